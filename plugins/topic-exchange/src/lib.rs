//! `builtin:topic-exchange`: `lockgate_filters::route::exchange` as a router plugin.

use lockgate_filters::route::exchange::TopicExchange;
use lockgate_plugin_sdk::TopicsOf;

lockgate_plugin_sdk::export_router!(TopicsOf<TopicExchange>);
