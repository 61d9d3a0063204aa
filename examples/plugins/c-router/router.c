// A Lockgate router in C: each message goes to `<prefix><region>` (its `region` property),
// or to the `default` topic; a message whose `audit` property is "yes" also goes to the
// `audit` topic. The same behaviour as the Python and JavaScript examples.
//
// Memory (wit-bindgen's C rules): arguments handed to an export belong to it and are freed
// here; everything returned (the routes and an error string) is allocated with malloc and
// freed by the bindings' post-return function after the broker has copied it.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/router_plugin.h"

typedef router_plugin_string_t string_t;
typedef exports_lockgate_plugin_router_routes_t routes_t;
typedef exports_lockgate_plugin_router_destination_t destination_t;

// A dispatcher: one per pipeline, made by `create` from the plugin's config.
struct exports_lockgate_plugin_router_dispatcher_t {
  char *prefix;
  char *fallback;
};

static char *copy_of(const string_t *s) {
  char *out = malloc(s->len + 1);
  memcpy(out, s->ptr, s->len);
  out[s->len] = 0;
  return out;
}

static bool string_is(const string_t *s, const char *text) {
  return s->len == strlen(text) && memcmp(s->ptr, text, s->len) == 0;
}

// Sets `err` to a malloc'd copy of `message` and returns false (the bindings free it).
static bool fail(string_t *err, const char *message) {
  router_plugin_string_dup(err, message);
  return false;
}

bool exports_lockgate_plugin_router_static_dispatcher_create(
    router_plugin_list_tuple2_string_string_t *config,
    exports_lockgate_plugin_router_own_dispatcher_t *ret, string_t *err) {
  exports_lockgate_plugin_router_dispatcher_t *d = calloc(1, sizeof *d);
  bool ok = true;
  char problem[160];
  for (size_t i = 0; i < config->len && ok; i++) {
    string_t *name = &config->ptr[i].f0, *value = &config->ptr[i].f1;
    if (string_is(name, "prefix")) {
      free(d->prefix);
      d->prefix = copy_of(value);
    } else if (string_is(name, "default")) {
      free(d->fallback);
      d->fallback = copy_of(value);
    } else {
      snprintf(problem, sizeof problem, "unknown option \"%.*s\" (known: prefix, default)",
               (int)(name->len > 100 ? 100 : name->len), (const char *)name->ptr);
      ok = false;
    }
  }
  // The config list is ours: free it whatever the outcome.
  router_plugin_list_tuple2_string_string_free(config);
  if (!ok) {
    exports_lockgate_plugin_router_dispatcher_destructor(d);
    return fail(err, problem);
  }
  if (!d->prefix) d->prefix = strdup("orders.");
  if (!d->fallback) d->fallback = strdup("orders.other");
  string_t line;
  router_plugin_string_set(&line, "c router ready");  // borrowed: the host copies it
  lockgate_plugin_host_log(LOCKGATE_PLUGIN_HOST_LEVEL_INFO, &line);
  *ret = exports_lockgate_plugin_router_dispatcher_new(d);
  return true;
}

void exports_lockgate_plugin_router_dispatcher_destructor(
    exports_lockgate_plugin_router_dispatcher_t *d) {
  free(d->prefix);
  free(d->fallback);
  free(d);
}

// ---- reading the flat batch (docs/plugins.md) ------------------------------------------

typedef struct {
  const uint8_t *at, *end;
} cursor_t;

static bool take(cursor_t *c, size_t n, const uint8_t **out) {
  if ((size_t)(c->end - c->at) < n) return false;
  *out = c->at;
  c->at += n;
  return true;
}

static bool u16_of(cursor_t *c, uint32_t *v) {
  const uint8_t *p;
  if (!take(c, 2, &p)) return false;
  *v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
  return true;
}

static bool u32_of(cursor_t *c, uint32_t *v) {
  const uint8_t *p;
  if (!take(c, 4, &p)) return false;
  *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return true;
}

// The region and audit properties of one entry (not NUL-terminated; NULL when absent).
typedef struct {
  const uint8_t *region, *audit;
  uint32_t region_len, audit_len;
} wanted_t;

static bool read_entry(cursor_t c, wanted_t *w) {
  const uint8_t *skip;
  uint32_t n, count;
  // queue, offset, store time, born time, id, attempt: 48 bytes.
  if (!take(&c, 48, &skip)) return false;
  if (!u16_of(&c, &n) || !take(&c, n, &skip)) return false;  // tag
  if (!u16_of(&c, &count)) return false;                       // keys
  for (uint32_t k = 0; k < count; k++)
    if (!u16_of(&c, &n) || !take(&c, n, &skip)) return false;
  if (!u16_of(&c, &count)) return false;  // properties
  for (uint32_t p = 0; p < count; p++) {
    const uint8_t *name, *value;
    uint32_t name_len, value_len;
    if (!u16_of(&c, &name_len) || !take(&c, name_len, &name)) return false;
    if (!u32_of(&c, &value_len) || !take(&c, value_len, &value)) return false;
    if (name_len == 6 && memcmp(name, "region", 6) == 0) {
      w->region = value;
      w->region_len = value_len;
    } else if (name_len == 5 && memcmp(name, "audit", 5) == 0) {
      w->audit = value;
      w->audit_len = value_len;
    }
  }
  return true;  // the body follows; a router does not need it
}

// ---- building the answer ---------------------------------------------------------------

// The index of `name` in the routes' destinations, adding it (malloc'd) when new.
static uint32_t destination(exports_lockgate_plugin_router_list_destination_t *list,
                            size_t *capacity, const uint8_t *name, size_t len) {
  for (size_t i = 0; i < list->len; i++) {
    string_t *t = &list->ptr[i].topic;
    if (t->len == len && memcmp(t->ptr, name, len) == 0) return (uint32_t)i;
  }
  if (list->len == *capacity) {
    *capacity = *capacity ? *capacity * 2 : 4;
    list->ptr = realloc(list->ptr, *capacity * sizeof *list->ptr);
  }
  destination_t *d = &list->ptr[list->len];
  memset(d, 0, sizeof *d);  // queue and sharding key: none
  router_plugin_string_dup_n(&d->topic, (const char *)name, len);
  return (uint32_t)list->len++;
}

bool exports_lockgate_plugin_router_method_dispatcher_route(
    exports_lockgate_plugin_router_borrow_dispatcher_t self, string_t *topic,
    router_plugin_list_u8_t *batch, routes_t *ret, string_t *err) {
  cursor_t c = {batch->ptr, batch->ptr + batch->len};
  uint32_t count = 0;
  bool ok = u32_of(&c, &count) && count <= batch->len;
  routes_t routes = {0};
  size_t capacity = 0;
  // Empty lists stay NULL: the bindings free only lists with elements.
  if (ok && count > 0) {
    routes.targets.ptr = calloc(count, sizeof *routes.targets.ptr);
    routes.targets.len = count;
  }
  char name[256];
  for (uint32_t i = 0; ok && i < count; i++) {
    uint32_t length;
    const uint8_t *entry;
    wanted_t w = {0};
    ok = u32_of(&c, &length) && take(&c, length, &entry) &&
         read_entry((cursor_t){entry, entry + length}, &w);
    if (!ok) break;
    router_plugin_list_u32_t *mine = &routes.targets.ptr[i];
    mine->ptr = malloc(2 * sizeof *mine->ptr);
    size_t n = strlen(self->prefix);
    if (w.region && n + w.region_len < sizeof name) {
      memcpy(name, self->prefix, n);
      memcpy(name + n, w.region, w.region_len);
      n += w.region_len;
    } else {
      n = strlen(self->fallback);
      memcpy(name, self->fallback, n);
    }
    mine->ptr[mine->len++] = destination(&routes.destinations, &capacity, (uint8_t *)name, n);
    if (w.audit && w.audit_len == 3 && memcmp(w.audit, "yes", 3) == 0)
      mine->ptr[mine->len++] =
          destination(&routes.destinations, &capacity, (const uint8_t *)"audit", 5);
  }
  // The topic and the batch are ours: free them.
  router_plugin_string_free(topic);
  router_plugin_list_u8_free(batch);
  if (!ok) {
    exports_lockgate_plugin_router_routes_free(&routes);
    return fail(err, "malformed batch: an entry runs past the end");
  }
  *ret = routes;
  return true;
}
