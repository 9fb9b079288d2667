//! A reader for GGUF files (llama.cpp's model format, version 2 and 3): the
//! metadata key/values, the tensor directory and the aligned data section.
//!
//! An opened file is read up to its tensor data at once; each tensor's bytes
//! are read when asked for, so loading holds one tensor next to the model's
//! converted weights, never the whole file. (Tests parse files held in
//! memory, whose tensors are borrowed slices.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Generous bounds that a corrupt or hostile file cannot push us past.
const MAX_STRING: u64 = 64 << 20;
const MAX_ARRAY: u64 = 1 << 24;
const MAX_DIMS: u32 = 4;

/// Why a model file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read the model file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF file (bad magic)")]
    NotGguf,
    #[error("unsupported GGUF version {0} (2 and 3 are supported)")]
    Version(u32),
    #[error("the model file is truncated or corrupt at byte {0}")]
    Truncated(usize),
    #[error("the model file is corrupt: {0}")]
    Corrupt(String),
    #[error("the model file lacks metadata key `{0}`")]
    MissingKey(String),
    #[error("metadata key `{key}` is not {expected}")]
    WrongType { key: String, expected: &'static str },
    #[error("the model file lacks tensor `{0}`")]
    MissingTensor(String),
    #[error("tensor `{name}` has type {kind}, which is not supported here")]
    UnsupportedType { name: String, kind: u32 },
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    fn as_u64(&self) -> Option<u64> {
        match self {
            Self::U64(v) => Some(*v),
            Self::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
}

/// The ggml tensor types this reader hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
}

impl TensorType {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block).
    pub fn block(self) -> (u64, u64) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
        }
    }
}

/// A tensor's directory entry. `dims[0]` is the fastest-varying (row
/// length), as in ggml.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub dims: Vec<u64>,
    pub kind: TensorType,
    offset: u64,
    bytes: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// Where the tensor bytes come from: a file read on demand (so loading
/// never holds the whole file next to the converted weights), or memory.
enum Source {
    File { file: std::fs::File, len: u64 },
    Memory(Vec<u8>),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Self::File { len, .. } => *len,
            Self::Memory(data) => data.len() as u64,
        }
    }
}

/// What precedes the tensor data: where it starts, the metadata, the
/// tensor directory.
type Header = (usize, HashMap<String, Value>, HashMap<String, TensorInfo>);

/// A parsed model file.
pub struct Gguf {
    source: Source,
    data_start: usize,
    pub metadata: HashMap<String, Value>,
    pub tensors: HashMap<String, TensorInfo>,
}

impl std::fmt::Debug for Gguf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gguf")
            .field("bytes", &self.source.len())
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Gguf {
    /// Parses the file at `path`: its header, metadata and tensor
    /// directory now, each tensor's bytes when [`Self::tensor`] asks.
    ///
    /// # Errors
    /// When the file cannot be read or is not a well-formed GGUF file.
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        Self::open_reading(path, 8 << 20)
    }

    /// [`Self::open`], first reading `prefix` bytes for the header.
    fn open_reading(path: &Path, prefix: u64) -> Result<Self, GgufError> {
        use std::io::{Read as _, Seek as _};
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        // The header and metadata (the tokenizer's vocabulary is the bulk)
        // sit at the front: read a prefix, and a larger one if it was cut.
        let mut want = prefix.max(64);
        loop {
            let mut prefix = Vec::new();
            (&file).seek(std::io::SeekFrom::Start(0))?;
            (&file).take(want.min(len)).read_to_end(&mut prefix)?;
            match Self::parse_header(&prefix, len) {
                Err(GgufError::Truncated(_)) if want < len => want *= 4,
                Err(e) => return Err(e),
                Ok((data_start, metadata, tensors)) => {
                    return Ok(Self {
                        source: Source::File { file, len },
                        data_start,
                        metadata,
                        tensors,
                    });
                }
            }
        }
    }

    /// Parses a whole file held in memory.
    ///
    /// # Errors
    /// When `data` is not a well-formed GGUF file.
    pub fn parse(data: Vec<u8>) -> Result<Self, GgufError> {
        let (data_start, metadata, tensors) = Self::parse_header(&data, data.len() as u64)?;
        Ok(Self {
            source: Source::Memory(data),
            data_start,
            metadata,
            tensors,
        })
    }

    /// Parses everything before the tensor data from `data` (the file's
    /// first bytes) and checks every tensor lies within `len`, the whole
    /// file's length.
    fn parse_header(data: &[u8], len: u64) -> Result<Header, GgufError> {
        let mut r = Reader { data, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(GgufError::NotGguf);
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        let tensor_count = r.u64()?;
        let kv_count = r.u64()?;
        if tensor_count > MAX_ARRAY || kv_count > MAX_ARRAY {
            return Err(GgufError::Corrupt("implausible counts".into()));
        }
        let mut metadata = HashMap::new();
        for _ in 0..kv_count {
            let key = r.string()?;
            let kind = r.u32()?;
            let value = r.value(kind, 0)?;
            metadata.insert(key, value);
        }
        let mut infos = Vec::new();
        for _ in 0..tensor_count {
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::Corrupt(format!("tensor {name}: {n_dims} dims")));
            }
            let dims = (0..n_dims)
                .map(|_| r.u64())
                .collect::<Result<Vec<_>, _>>()?;
            let id = r.u32()?;
            let offset = r.u64()?;
            let kind = TensorType::from_id(id).ok_or_else(|| GgufError::UnsupportedType {
                name: name.clone(),
                kind: id,
            })?;
            let (per_block, block_bytes) = kind.block();
            let elements = dims
                .iter()
                .try_fold(1u64, |acc, d| acc.checked_mul(*d))
                .ok_or_else(|| GgufError::Corrupt(format!("tensor {name}: overflow")))?;
            if dims[0] % per_block != 0 {
                return Err(GgufError::Corrupt(format!(
                    "tensor {name}: rows of {} are not whole blocks",
                    dims[0]
                )));
            }
            let bytes = elements / per_block * block_bytes;
            infos.push((
                name,
                TensorInfo {
                    dims,
                    kind,
                    offset,
                    bytes,
                },
            ));
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT)
            .max(1);
        let data_start = (r.at as u64).div_ceil(alignment) * alignment;
        let data_start = usize::try_from(data_start).map_err(|_| GgufError::Truncated(r.at))?;
        for (name, info) in &infos {
            let end = (data_start as u64)
                .checked_add(info.offset)
                .and_then(|s| s.checked_add(info.bytes));
            if end.is_none_or(|end| end > len) {
                return Err(GgufError::Corrupt(format!(
                    "tensor {name} runs past the end of the file"
                )));
            }
        }
        Ok((data_start, metadata, infos.into_iter().collect()))
    }

    /// A tensor's directory entry.
    ///
    /// # Errors
    /// When there is no such tensor.
    pub fn info(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensors
            .get(name)
            .ok_or_else(|| GgufError::MissingTensor(name.to_owned()))
    }

    /// The raw bytes of a tensor (read from the file now, for an opened
    /// file), with its directory entry.
    ///
    /// # Errors
    /// When there is no such tensor, or the file cannot be read.
    pub fn tensor(&self, name: &str) -> Result<(&TensorInfo, Cow<'_, [u8]>), GgufError> {
        let info = self.info(name)?;
        // Bounds were checked at parse time.
        let start = self.data_start as u64 + info.offset;
        let bytes = match &self.source {
            Source::Memory(data) => {
                Cow::Borrowed(&data[start as usize..(start + info.bytes) as usize])
            }
            Source::File { file, .. } => {
                use std::io::{Read as _, Seek as _, SeekFrom};
                let len = usize::try_from(info.bytes)
                    .map_err(|_| GgufError::Corrupt(format!("tensor {name} is too large")))?;
                let mut buf = vec![0; len];
                // Loading reads one tensor at a time, so sharing the file
                // position is fine.
                let mut reader = file;
                reader.seek(SeekFrom::Start(start))?;
                reader.read_exact(&mut buf)?;
                Cow::Owned(buf)
            }
        };
        Ok((info, bytes))
    }

    fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.to_owned()))
    }

    /// An unsigned integer metadata value.
    ///
    /// # Errors
    /// When the key is missing or not an unsigned integer.
    pub fn u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get(key)?.as_u64().ok_or(GgufError::WrongType {
            key: key.to_owned(),
            expected: "an unsigned integer",
        })
    }

    /// A float metadata value.
    ///
    /// # Errors
    /// When the key is missing or not a number.
    pub fn f64(&self, key: &str) -> Result<f64, GgufError> {
        match self.get(key)? {
            Value::F64(v) => Ok(*v),
            other => other
                .as_u64()
                .map(|v| v as f64)
                .ok_or(GgufError::WrongType {
                    key: key.to_owned(),
                    expected: "a number",
                }),
        }
    }

    /// A string metadata value.
    ///
    /// # Errors
    /// When the key is missing or not a string.
    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        match self.get(key)? {
            Value::Str(s) => Ok(s),
            _ => Err(GgufError::WrongType {
                key: key.to_owned(),
                expected: "a string",
            }),
        }
    }

    /// An array metadata value.
    ///
    /// # Errors
    /// When the key is missing or not an array.
    pub fn array(&self, key: &str) -> Result<&[Value], GgufError> {
        match self.get(key)? {
            Value::Array(v) => Ok(v),
            _ => Err(GgufError::WrongType {
                key: key.to_owned(),
                expected: "an array",
            }),
        }
    }
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], GgufError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or(GgufError::Truncated(self.at))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64()?;
        if len > MAX_STRING {
            return Err(GgufError::Corrupt(format!("a string of {len} bytes")));
        }
        let at = self.at;
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::Truncated(at))
    }

    fn value(&mut self, kind: u32, depth: u8) -> Result<Value, GgufError> {
        Ok(match kind {
            0 => Value::U64(u64::from(self.array::<1>()?[0])),
            1 => Value::I64(i64::from(i8::from_le_bytes(self.array()?))),
            2 => Value::U64(u64::from(u16::from_le_bytes(self.array()?))),
            3 => Value::I64(i64::from(i16::from_le_bytes(self.array()?))),
            4 => Value::U64(u64::from(self.u32()?)),
            5 => Value::I64(i64::from(i32::from_le_bytes(self.array()?))),
            6 => Value::F64(f64::from(f32::from_le_bytes(self.array()?))),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            9 if depth == 0 => {
                let inner = self.u32()?;
                let len = self.u64()?;
                if len > MAX_ARRAY {
                    return Err(GgufError::Corrupt(format!("an array of {len} items")));
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(inner, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            other => {
                return Err(GgufError::Corrupt(format!(
                    "metadata value of type {other}"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal GGUF v3 file with the given metadata bytes and one F32
    /// tensor of 4 elements.
    fn file(kv: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
        let string = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        for (key, kind, value) in kv {
            string(&mut out, key);
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(value);
        }
        string(&mut out, "w");
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&4u64.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        while out.len() % 32 != 0 {
            out.push(0);
        }
        for v in [1.0f32, 2.0, 3.0, 4.0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[test]
    fn reads_metadata_and_tensors() {
        let mut name = Vec::new();
        name.extend_from_slice(&5u64.to_le_bytes());
        name.extend_from_slice(b"llama");
        let mut arr = Vec::new();
        arr.extend_from_slice(&4u32.to_le_bytes());
        arr.extend_from_slice(&2u64.to_le_bytes());
        arr.extend_from_slice(&7u32.to_le_bytes());
        arr.extend_from_slice(&9u32.to_le_bytes());
        let g = Gguf::parse(file(&[
            ("general.architecture", 8, name),
            ("n", 4, 30u32.to_le_bytes().to_vec()),
            ("eps", 6, 1e-5f32.to_le_bytes().to_vec()),
            ("ids", 9, arr),
        ]))
        .unwrap();
        assert_eq!(g.str("general.architecture").unwrap(), "llama");
        assert_eq!(g.u64("n").unwrap(), 30);
        assert!((g.f64("eps").unwrap() - 1e-5).abs() < 1e-9);
        assert_eq!(g.array("ids").unwrap(), &[Value::U64(7), Value::U64(9)]);
        let (info, bytes) = g.tensor("w").unwrap();
        assert_eq!(info.dims, vec![4]);
        assert_eq!(info.kind, TensorType::F32);
        assert_eq!(bytes.len(), 16);
        assert_eq!(&bytes[4..8], &2.0f32.to_le_bytes());
        assert!(matches!(g.u64("eps"), Err(GgufError::WrongType { .. })));
        assert!(matches!(g.tensor("nope"), Err(GgufError::MissingTensor(_))));
    }

    #[test]
    fn an_opened_file_reads_its_tensors_on_demand() {
        // A string value longer than the first prefix read: the header is
        // read again, larger.
        let mut long = Vec::new();
        long.extend_from_slice(&300u64.to_le_bytes());
        long.extend_from_slice(&[b'x'; 300]);
        let bytes = file(&[("long", 8, long)]);
        let dir = std::env::temp_dir().join(format!("exiton-gguf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.gguf");
        std::fs::write(&path, &bytes).unwrap();
        let g = Gguf::open_reading(&path, 64).unwrap();
        assert_eq!(g.str("long").unwrap().len(), 300);
        let (_, data) = g.tensor("w").unwrap();
        assert!(matches!(data, Cow::Owned(_)), "read from the file");
        assert_eq!(&data[12..16], &4.0f32.to_le_bytes());
        // A file cut inside its tensor data is refused at open.
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(Gguf::open(&path).is_err());
        std::fs::write(&path, &bytes[..40]).unwrap();
        assert!(Gguf::open(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_bad_files_without_panicking() {
        assert!(matches!(
            Gguf::parse(b"GGML....".to_vec()),
            Err(GgufError::NotGguf)
        ));
        let good = file(&[]);
        // Every truncation is an error, never a panic.
        for cut in 0..good.len() - 16 {
            assert!(Gguf::parse(good[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        let mut v1 = good.clone();
        v1[4] = 1;
        assert!(matches!(Gguf::parse(v1), Err(GgufError::Version(1))));
    }
}
