//! The built component against its contract: the world embedded in the `.wasm` is the
//! world in `wit/`, imports and exports with their versions and functions, and nothing
//! more (no `wasi:*` import); and the component stays small.

use std::collections::BTreeMap;
use std::path::Path;

use user_phone::runtime::COMPONENT;
use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldId, WorldItem};

/// Every import and export of `world`, by name with version, with the functions it holds.
fn surface(resolve: &Resolve, world: WorldId) -> BTreeMap<String, Vec<String>> {
    let world = &resolve.worlds[world];
    let imports = world.imports.iter().map(|item| ("import", item));
    let exports = world.exports.iter().map(|item| ("export", item));
    imports
        .chain(exports)
        .map(|(direction, (key, item))| {
            let functions = match item {
                WorldItem::Interface { id, .. } => {
                    resolve.interfaces[*id].functions.keys().cloned().collect()
                }
                WorldItem::Function(function) => vec![function.name.clone()],
                WorldItem::Type { .. } => Vec::new(),
            };
            (
                format!("{direction} {}", resolve.name_world_key(key)),
                functions,
            )
        })
        .collect()
}

fn built() -> BTreeMap<String, Vec<String>> {
    match wit_component::decode(COMPONENT).expect("the component decodes") {
        DecodedWasm::Component(resolve, world) => surface(&resolve, world),
        DecodedWasm::WitPackage(..) => panic!("the build produced a WIT package, not a component"),
    }
}

fn declared() -> BTreeMap<String, Vec<String>> {
    let mut resolve = Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let (package, _) = resolve.push_dir(&wit).expect("wit/ parses");
    let world = resolve
        .select_world(&[package], Some("endpoint"))
        .expect("the endpoint world");
    surface(&resolve, world)
}

#[test]
fn the_built_world_is_the_declared_world() {
    let (built, declared) = (built(), declared());
    assert_eq!(
        built, declared,
        "\n  built:    {built:#?}\n  declared: {declared:#?}"
    );
}

#[test]
fn the_component_imports_only_its_storage_interface() {
    let imports: Vec<String> = built()
        .into_keys()
        .filter_map(|k| k.strip_prefix("import ").map(String::from))
        .collect();
    assert_eq!(
        imports,
        [
            "user-phone:endpoint/storage@0.1.0",
            "user-phone:endpoint/types@0.1.0"
        ],
        "the component must not import wasi:* or anything else"
    );
}

#[test]
fn the_component_is_at_most_150_kib() {
    let size = COMPONENT.len();
    assert!(
        size <= 150 * 1024,
        "the component is {size} bytes, over 150 KiB"
    );
}
