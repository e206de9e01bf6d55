//! Go `encoding/json` behaviour, reproduced where it is visible on the wire.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// Every field name of every wire struct. Go matches JSON keys to struct fields
/// case-insensitively; [`decode_go`] folds keys onto these canonical spellings.
const FIELDS: &[&str] = &[
    // plugin
    "Implements",
    "Err",
    // .json spec files
    "Addr",
    "TLSConfig",
    "CAFile",
    "CertFile",
    "KeyFile",
    "InsecureSkipVerify",
    // volume
    "Name",
    "Opts",
    "ID",
    "Mountpoint",
    "Volume",
    "Volumes",
    "CreatedAt",
    "Status",
    "Capabilities",
    "Scope",
    // authz
    "User",
    "UserAuthNMethod",
    "RequestMethod",
    "RequestUri",
    "RequestBody",
    "RequestHeaders",
    "RequestPeerCertificates",
    "ResponseStatusCode",
    "ResponseBody",
    "ResponseHeaders",
    "Allow",
    "Msg",
    // ipam
    "Error",
    "RequiresMACAddress",
    "RequiresRequestReplay",
    "LocalDefaultAddressSpace",
    "GlobalDefaultAddressSpace",
    "AddressSpace",
    "Pool",
    "SubPool",
    "Options",
    "V6",
    "PoolID",
    "Data",
    "Address",
    // network
    "ConnectivityScope",
    "NetworkID",
    "IPv4Data",
    "IPv6Data",
    "Gateway",
    "AuxAddresses",
    "EndpointID",
    "Interface",
    "AddressIPv6",
    "MacAddress",
    "Value",
    "SandboxKey",
    "InterfaceName",
    "SrcName",
    "DstName",
    "DstPrefix",
    "GatewayIPv6",
    "StaticRoutes",
    "Destination",
    "RouteType",
    "NextHop",
    "DisableGatewayService",
    "DiscoveryType",
    "DiscoveryData",
];

/// Fields whose value is free-form (a Go map or `interface{}`): their keys are
/// data, not field names, and must be passed through untouched.
const OPAQUE: &[&str] = &[
    "Status",
    "Opts",
    "Options",
    "Data",
    "Value",
    "RequestHeaders",
    "ResponseHeaders",
    "AuxAddresses",
    "DiscoveryData",
];

/// Why a body could not be decoded the way dockerd would decode it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body was empty. Go's decoder reports this as `EOF`, and so does dockerd.
    #[error("EOF")]
    Eof,
    /// The body stops in the middle of a JSON value (`{"Err": "unterminated`).
    /// Go's decoder reports this as `unexpected EOF`, and so does dockerd
    /// (recorded: tests/golden/faults/f-create-errors.jsonl).
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// The body is not JSON.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// The JSON does not fit the expected shape (e.g. a string where a bool belongs).
    #[error("unexpected JSON shape: {0}")]
    Shape(String),
}

/// Decodes `body` as Go's `json.Decoder.Decode` would into the struct `T`.
///
/// * only the first JSON value is read; trailing bytes are ignored;
/// * an empty body is [`DecodeError::Eof`]; `null` yields `T::default()`;
/// * object keys match field names case-insensitively; unknown keys are ignored;
/// * `null` for a field leaves its zero value.
pub fn decode_go<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, DecodeError> {
    // Fast path: straight into `T`, noting every key serde ignores. Go would
    // still match a key that differs from a field name only in case, so if
    // any ignored key is such a spelling (or anything else is unusual — a
    // `null` field, a duplicate, a type error) the general path below, which
    // defines the semantics, decides. Canonical keys (what every well-behaved
    // peer sends) never reach the callback, so the fast path costs nothing
    // beyond serde's own parse.
    let index = FieldIndex::get();
    let mut other_case = false;
    let mut de = serde_json::Deserializer::from_slice(body);
    let fast: Result<T, _> = serde_ignored::deserialize(&mut de, |path| {
        if let serde_ignored::Path::Map { key, .. } = path {
            other_case |= index.classify(key.as_bytes()) == KeyKind::OtherCase;
        }
    });
    if let (Ok(v), false) = (fast, other_case) {
        return Ok(v);
    }
    decode_general(body)
}

/// The general (slow) path of [`decode_go`]: parse to a JSON value, fold keys
/// onto canonical names, drop nulls, then convert.
fn decode_general<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, DecodeError> {
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let mut value = match stream.next() {
        None => return Err(DecodeError::Eof),
        Some(Err(e)) if e.is_eof() => {
            return Err(if body.iter().all(u8::is_ascii_whitespace) {
                DecodeError::Eof
            } else {
                DecodeError::UnexpectedEof
            })
        }
        Some(Err(e)) => return Err(DecodeError::Syntax(e.to_string())),
        Some(Ok(v)) => v,
    };
    if value.is_null() {
        return Ok(T::default());
    }
    fold_keys(&mut value);
    serde_json::from_value(value).map_err(|e| DecodeError::Shape(e.to_string()))
}

/// How an object key relates to the wire structs' field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// Spelled exactly like a field.
    Canonical,
    /// A field's name in another letter case (Go would still match it).
    OtherCase,
    /// No field's name in any case: ignored by Go, harmless to serde.
    Unrelated,
}

/// An open-addressing table of the field names keyed by a case-blind hash,
/// built once, so a key is classified with one hash and (usually) one
/// comparison, without copying it. This runs for every key of every body the
/// SDK and the engine decode.
struct FieldIndex {
    /// Canonical names; empty slots are empty.
    slots: Vec<&'static [u8]>,
}

/// Longer keys cannot be field names (the longest is 25 bytes).
const MAX_FIELD_LEN: usize = 32;

impl FieldIndex {
    const SLOTS: usize = 256;

    fn get() -> &'static FieldIndex {
        static INDEX: std::sync::OnceLock<FieldIndex> = std::sync::OnceLock::new();
        INDEX.get_or_init(|| {
            let mut slots: Vec<&'static [u8]> = vec![&[][..]; Self::SLOTS];
            for field in FIELDS {
                assert!(field.len() <= MAX_FIELD_LEN, "field name {field} too long");
                let mut at = Self::hash(field.as_bytes());
                while !slots[at].is_empty() {
                    // Two fields differing only in case would make Go's match ambiguous.
                    assert!(
                        !slots[at].eq_ignore_ascii_case(field.as_bytes()),
                        "fields {field} and another differ only in case"
                    );
                    at = (at + 1) % Self::SLOTS;
                }
                slots[at] = field.as_bytes();
            }
            FieldIndex { slots }
        })
    }

    /// FNV-1a over the bytes with the ASCII case bit set, folded to a slot: a
    /// key and its other-case spellings land on the same slot chain.
    fn hash(key: &[u8]) -> usize {
        let mut h: u32 = 0x811c_9dc5;
        for &b in key {
            h = (h ^ u32::from(b | 0x20)).wrapping_mul(0x0100_0193);
        }
        (h as usize) % Self::SLOTS
    }

    fn classify(&self, key: &[u8]) -> KeyKind {
        if key.is_empty() || key.len() > MAX_FIELD_LEN {
            return KeyKind::Unrelated;
        }
        let mut at = Self::hash(key);
        loop {
            let canonical = self.slots[at];
            if canonical.is_empty() {
                return KeyKind::Unrelated;
            }
            if canonical == key {
                return KeyKind::Canonical;
            }
            if canonical.eq_ignore_ascii_case(key) {
                return KeyKind::OtherCase;
            }
            at = (at + 1) % Self::SLOTS;
        }
    }
}

/// Rewrites struct-level keys onto canonical field names and drops `null`
/// members, recursing into nested structs but not into free-form maps.
fn fold_keys(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(fold_keys),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut new = Map::with_capacity(old.len());
            for (key, mut member) in old {
                if member.is_null() {
                    continue;
                }
                let canonical = canonical_field(&key).map(str::to_owned).unwrap_or(key);
                if !OPAQUE.contains(&canonical.as_str()) {
                    fold_keys(&mut member);
                }
                new.insert(canonical, member);
            }
            *map = new;
        }
        _ => {}
    }
}

fn canonical_field(key: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|f| **f == key)
        .or_else(|| FIELDS.iter().find(|f| f.eq_ignore_ascii_case(key)))
        .copied()
}

/// Encodes `value` as Go's `json.Encoder.Encode` does: compact, with `<`, `>`, `&`,
/// U+2028 and U+2029 escaped, and a trailing newline. These are the bytes dockerd
/// puts on the wire, so traces and byte counts match a real daemon.
pub fn encode_go<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut compact = serde_json::to_vec(value).expect("wire types always serialise");
    // Most bodies hold none of those characters: keep serde's bytes as they are.
    if memchr::memchr3(b'<', b'>', b'&', &compact).is_none()
        && memchr::memchr(0xE2, &compact).is_none()
    {
        compact.push(b'\n');
        return compact;
    }
    let mut out = Vec::with_capacity(compact.len() + 8);
    let mut rest = compact.as_slice();
    // The characters Go escapes only ever occur inside strings, so a byte-level
    // pass over the compact output is exact.
    while let Some(pos) = rest
        .iter()
        .position(|b| matches!(b, b'<' | b'>' | b'&' | 0xE2))
    {
        out.extend_from_slice(&rest[..pos]);
        match rest[pos] {
            b'<' => out.extend_from_slice(br"\u003c"),
            b'>' => out.extend_from_slice(br"\u003e"),
            b'&' => out.extend_from_slice(br"\u0026"),
            _ => {
                // U+2028 is E2 80 A8 and U+2029 is E2 80 A9 in UTF-8.
                if rest[pos..].starts_with(&[0xE2, 0x80, 0xA8]) {
                    out.extend_from_slice(br"\u2028");
                    rest = &rest[pos + 3..];
                    continue;
                } else if rest[pos..].starts_with(&[0xE2, 0x80, 0xA9]) {
                    out.extend_from_slice(br"\u2029");
                    rest = &rest[pos + 3..];
                    continue;
                }
                out.push(0xE2);
            }
        }
        rest = &rest[pos + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
    out
}

/// Serialises a free-form Go map field (`map[string]interface{}`) as Go does:
/// keys sorted by bytes, at every depth. serde_json keeps insertion order
/// instead, which would make drydock's bytes differ from dockerd's.
pub(crate) mod go_map {
    use super::SortedMap;
    use serde::{Serialize, Serializer};
    use serde_json::{Map, Value};

    pub fn serialize<S: Serializer>(
        v: &Option<Map<String, Value>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(map) => SortedMap(map).serialize(s),
            None => s.serialize_none(),
        }
    }
}

/// Like [`go_map`], for a free-form `interface{}` field.
pub(crate) mod go_value {
    use super::Sorted;
    use serde::{Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
        Sorted(v).serialize(s)
    }
}

struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => SortedMap(map).serialize(s),
            Value::Array(items) => s.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(s),
        }
    }
}

struct SortedMap<'a>(&'a Map<String, Value>);

impl Serialize for SortedMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map = self.0;
        // Small maps built in order (a Status with one key) need no copy.
        if map.keys().zip(map.keys().skip(1)).all(|(a, b)| a <= b) {
            return s.collect_map(map.iter().map(|(k, v)| (k, Sorted(v))));
        }
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        s.collect_map(entries.into_iter().map(|(k, v)| (k, Sorted(v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::volume::{CreateRequest, GetResponse, MountRequest};

    #[test]
    fn encode_matches_go_bytes() {
        let req = CreateRequest {
            name: "v1".into(),
            opts: None,
        };
        // protocol.md §3.1: the captured Create body is 26 bytes with its newline.
        assert_eq!(encode_go(&req), b"{\"Name\":\"v1\",\"Opts\":null}\n");
        let html = CreateRequest {
            name: "<a&b>\u{2028}".into(),
            opts: Some(Default::default()),
        };
        assert_eq!(
            String::from_utf8(encode_go(&html)).unwrap(),
            "{\"Name\":\"\\u003ca\\u0026b\\u003e\\u2028\",\"Opts\":{}}\n"
        );
    }

    #[test]
    fn free_form_maps_are_encoded_with_sorted_keys_like_go() {
        use crate::wire::volume::Volume;
        let status: Map<String, Value> =
            serde_json::from_str(r#"{"b":1,"a":[{"z":1,"Y":2}],"B":{"d":1,"c":2}}"#).unwrap();
        let vol = Volume {
            name: "v".into(),
            status: Some(status),
            ..Volume::default()
        };
        assert_eq!(
            String::from_utf8(encode_go(&vol)).unwrap(),
            "{\"Name\":\"v\",\"Status\":{\"B\":{\"c\":2,\"d\":1},\"a\":[{\"Y\":2,\"z\":1}],\"b\":1}}\n"
        );
    }

    #[test]
    fn fast_path_agrees_with_the_general_path() {
        let bodies: &[&[u8]] = &[
            br#"{"Volume":{"Name":"v","Mountpoint":"/m","CreatedAt":"2026-11-22T03:03:39Z","Status":{"mounts":["a"]}}}"#,
            br#"{"Volume":{"Name":"v","Status":{"name":"data, not a field"}},"Err":""}"#,
            br#"{"Err":"no such volume: v"} trailing"#,
            br#"{"Volume":null,"Err":null}"#,
            br#"{"volume":{"name":"lower"}}"#,
            br#"{"Volume":{"Name":"escaped key"}}"#,
            br#"{"Err":"a","Err":"b"}"#,
            b"null",
            b"",
            b"[1,2]",
        ];
        for body in bodies {
            let fast: Result<GetResponse, _> = decode_go(body);
            let general: Result<GetResponse, _> = decode_general(body);
            match (&fast, &general) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
                (Err(_), Err(_)) => {}
                _ => panic!("{}: {fast:?} vs {general:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn other_case_keys_send_a_body_to_the_general_path() {
        let index = FieldIndex::get();
        assert_eq!(index.classify(b"Mountpoint"), KeyKind::Canonical);
        assert_eq!(index.classify(b"mountPoint"), KeyKind::OtherCase);
        assert_eq!(index.classify(b"mounts"), KeyKind::Unrelated);
        assert_eq!(index.classify(b""), KeyKind::Unrelated);
        assert_eq!(index.classify(&[b'a'; 40]), KeyKind::Unrelated);
        // Every field is found under its own spelling and in lower case.
        for field in FIELDS {
            assert_eq!(
                index.classify(field.as_bytes()),
                KeyKind::Canonical,
                "{field}"
            );
            let lower = field.to_ascii_lowercase();
            if lower != *field {
                assert_eq!(
                    index.classify(lower.as_bytes()),
                    KeyKind::OtherCase,
                    "{field}"
                );
            }
        }
        // The fast path gives way to the general one exactly when an ignored
        // key is another spelling of a field: both must agree.
        for body in [
            &br#"{"Name":"v","ID":"x","Opts":{"name":"data"}}"#[..],
            br#"{"name":"v","id":"x"}"#,
            br#"{"N\u0061me":"v"}"#,
            br#"{"Name":"v","Extra":{"name":1}}"#,
        ] {
            let fast: Result<MountRequest, _> = decode_go(body);
            let general: Result<MountRequest, _> = decode_general(body);
            assert_eq!(fast, general, "{}", String::from_utf8_lossy(body));
            assert_eq!(fast.unwrap().name, "v");
        }
    }

    #[test]
    fn decode_is_go_lenient() {
        let got: GetResponse =
            decode_go(br#"{"volume":{"NAME":"v","status":{"keepCase":1}},"extra":1} trailing"#)
                .unwrap();
        let vol = got.volume.unwrap();
        assert_eq!(vol.name, "v");
        assert!(vol.status.unwrap().contains_key("keepCase"));
        assert_eq!(
            decode_go::<GetResponse>(b"null").unwrap(),
            GetResponse::default()
        );
        assert_eq!(decode_go::<GetResponse>(b""), Err(DecodeError::Eof));
        assert_eq!(decode_go::<GetResponse>(b"  \n"), Err(DecodeError::Eof));
        // A value cut short is Go's io.ErrUnexpectedEOF, not io.EOF.
        assert_eq!(
            decode_go::<GetResponse>(br#"{"Err": "unterminated"#),
            Err(DecodeError::UnexpectedEof)
        );
        assert_eq!(
            decode_go::<GetResponse>(br#"{"Volume": {"#)
                .unwrap_err()
                .to_string(),
            "unexpected EOF"
        );
        assert!(matches!(
            decode_go::<GetResponse>(b"{nope"),
            Err(DecodeError::Syntax(_))
        ));
        assert!(matches!(
            decode_go::<GetResponse>(br#"{"Err": 5}"#),
            Err(DecodeError::Shape(_))
        ));
        let null_field: GetResponse = decode_go(br#"{"Err": null}"#).unwrap();
        assert_eq!(null_field.err, "");
    }
}

/// `FIELDS` must be exactly the JSON names the wire structs declare: a field
/// added to a struct but not to `FIELDS` would not be matched
/// case-insensitively as Go matches it, and a stale entry would fold a
/// free-form key onto a field that no longer exists. The structs are read
/// from their source with `syn`, so the two cannot drift apart.
#[cfg(test)]
mod fields_match_the_structs {
    use super::FIELDS;
    use quote::ToTokens;
    use std::collections::BTreeSet;

    /// The serde name of every field of every struct in `src/wire/*.rs`.
    fn declared() -> BTreeSet<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/wire");
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let file = syn::parse_file(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for item in file.items {
                let syn::Item::Struct(s) = item else { continue };
                let serialized = s.attrs.iter().any(|a| {
                    let text = a.to_token_stream().to_string();
                    a.path().is_ident("derive")
                        && (text.contains("Serialize") || text.contains("Deserialize"))
                });
                if !serialized {
                    continue;
                }
                for field in &s.fields {
                    names.insert(serde_name(field));
                }
            }
        }
        names
    }

    /// `#[serde(rename = "X")]`, or the Rust name (no struct here renames
    /// all its fields; one that did would fail this test, prompting an
    /// update).
    fn serde_name(field: &syn::Field) -> String {
        let mut name = None;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    name = Some(lit.value());
                } else if meta.input.peek(syn::Token![=]) {
                    // `default = "…"`, `skip_serializing_if = "…"`: skip the value.
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            })
            .unwrap();
        }
        name.unwrap_or_else(|| field.ident.as_ref().expect("named field").to_string())
    }

    #[test]
    fn every_declared_field_is_in_fields_and_nothing_else() {
        let declared = declared();
        let listed: BTreeSet<String> = FIELDS.iter().map(|f| f.to_string()).collect();
        let missing: Vec<_> = declared.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&declared).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "wire::go::FIELDS is out of date: add {missing:?}, remove {stale:?}"
        );
    }
}
