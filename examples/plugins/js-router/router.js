// A Lockgate router in JavaScript: each message goes to `<prefix><region>` (its `region`
// property), or to the `default` topic; a message whose `audit` property is "yes" also goes to
// the `audit` topic. Built with jco componentize (see build.sh and README.md).

import { log } from "lockgate:plugin/host@0.2.0";

const utf8 = new TextDecoder();

// Yields { tag, keys, props } per message of the flat batch (docs/plugins.md).
function* messages(batch) {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const count = view.getUint32(0, true);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at, true);
    let pos = at + 4 + 48; // queue, offset, store time, born time, id, attempt
    at += 4 + length;
    const str16 = () => {
      const n = view.getUint16(pos, true);
      const s = utf8.decode(batch.subarray(pos + 2, pos + 2 + n));
      pos += 2 + n;
      return s;
    };
    const tag = str16();
    const keys = [];
    for (let k = view.getUint16(pos, true), j = (pos += 2, 0); j < k; j++) keys.push(str16());
    const props = {};
    const p = view.getUint16(pos, true);
    pos += 2;
    for (let j = 0; j < p; j++) {
      const name = str16();
      const n = view.getUint32(pos, true);
      props[name] = utf8.decode(batch.subarray(pos + 4, pos + 4 + n));
      pos += 4 + n;
    }
    yield { tag, keys, props };
  }
}

// The text the broker reports for anything thrown. ComponentizeJS hands a thrown string to the
// broker as the WIT `err`, but an `Error` object fails that conversion and its text is lost
// ("expected a string, received [object]"): every export that returns a result catches and
// rethrows through this.
function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}

class Dispatcher {
  constructor(prefix, fallback) {
    this.prefix = prefix;
    this.fallback = fallback;
  }

  static create(config) {
    try {
      const options = Object.fromEntries(config);
      for (const name of Object.keys(options)) {
        if (name !== "prefix" && name !== "default") {
          throw new Error(`unknown option ${JSON.stringify(name)} (known: prefix, default)`);
        }
      }
      log("info", "javascript router ready");
      return new Dispatcher(options.prefix ?? "orders.", options.default ?? "orders.other");
    } catch (e) {
      throw errorText(e);
    }
  }

  route(topic, batch) {
    try {
      return this.plan(batch);
    } catch (e) {
      throw errorText(e);
    }
  }

  plan(batch) {
    const destinations = [];
    const index = new Map();
    const to = (name) => {
      if (!index.has(name)) {
        index.set(name, destinations.length);
        destinations.push({ topic: name, queue: undefined, shardingKey: undefined });
      }
      return index.get(name);
    };
    const targets = [];
    for (const { props } of messages(batch)) {
      const mine = [to(props.region ? this.prefix + props.region : this.fallback)];
      if (props.audit === "yes") mine.push(to("audit"));
      targets.push(Uint32Array.from(mine));
    }
    return { destinations, targets };
  }
}

export const router = { Dispatcher };
