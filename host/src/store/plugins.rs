//! Plugins installed and removed through the API, kept in the database so that every host
//! sharing it runs the same ones: each name's component and its digest, or the record that it
//! was removed.

use super::StoreError;

super::interface! {
    /// Plugins installed and removed through the API.
    trait PluginStore {
        /// Records `component` (whose SHA-256 is `digest`) as the plugin called `name`,
        /// replacing what the name held, and announces it to the other hosts.
        async fn put_plugin(
            &self,
            name: &str,
            digest: &str,
            component: Vec<u8>,
        ) -> Result<(), StoreError>;
        /// Records that the plugin called `name` was removed, and announces it.
        async fn remove_plugin(&self, name: &str) -> Result<(), StoreError>;
        /// Every name recorded, with its component's digest (`None` once removed), by name.
        async fn plugin_digests(&self) -> Result<Vec<(String, Option<String>)>, StoreError>;
        /// The component recorded for `name`, unless it was removed.
        async fn plugin_component(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    }
}
