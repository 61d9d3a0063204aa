//! `builtin:content-router`: `lockgate_filters::route::content` as a router plugin.

use lockgate_filters::route::content::ContentRouter;
use lockgate_plugin_sdk::TopicsOf;

lockgate_plugin_sdk::export_router!(TopicsOf<ContentRouter>);
