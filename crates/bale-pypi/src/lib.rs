//! PyPI as a source of bale packages: wheels from an index that speaks
//! the JSON simple API (PEP 691), resolved for one image's Python, C
//! library and architecture, each wheel one package under
//! `/usr/local/lib/python3.X/dist-packages` (docs/pypi.md).

pub mod index;
pub mod metadata;
pub mod resolve;
pub mod tags;
pub mod wheel;
