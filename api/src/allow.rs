//! The methods each documented path takes, for the `Allow` header of a 405
//! (RFC 9110 §15.5.6), read from the OpenAPI document so that it is never
//! out of step with the routes.

use actix_web::dev::ResourceDef;
use utoipa::openapi::OpenApi;

pub struct AllowedMethods(Vec<(ResourceDef, String)>);

impl AllowedMethods {
    pub fn from_doc(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods: Vec<&str> = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods.join(", "))
            })
            .collect();
        Self(routes)
    }

    /// The `Allow` value for a path this service has, if it has it.
    pub fn for_path(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(resource, _)| resource.is_match(path))
            .map(|(_, methods)| methods.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_the_documented_methods_of_a_path() {
        let allowed = AllowedMethods::from_doc(&crate::api_doc());
        assert_eq!(
            allowed.for_path("/v1/plans/0190a6b2-0000-7000-8000-000000000001"),
            Some("GET, PATCH")
        );
        assert_eq!(allowed.for_path("/v1/plans"), Some("GET, POST"));
        assert_eq!(allowed.for_path("/v1/nothing"), None);
    }
}
