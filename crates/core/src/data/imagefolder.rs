//! Reader for an "image folder" dataset, as torchvision's `ImageFolder`:
//!
//! ```text
//! root/<class_name>/<image file>
//! root/cat/001.png
//! root/dog/xyz.jpg
//! ```
//!
//! - Classes are the sub-directories of `root`, sorted by name (Unicode code point order, as
//!   Python's `sorted`); class `k` of that order gets label `k`. Files directly in `root` (a
//!   README, a licence) are ignored.
//! - Images are the files of each class directory, sorted by name, read one level deep. Their
//!   extension (any case) must be one of [`EXTENSIONS`]; the content decides the decoder.
//! - Names starting with `.` (`.DS_Store`, `.git`) are skipped, at both levels.
//! - Stricter than torchvision, which skips files of other extensions and walks nested
//!   directories: here both are errors naming the path, so that nothing is dropped silently.
//! - Grey images (with or without alpha) give one channel, colour images three (RGB); alpha is
//!   dropped, as PIL's `convert("RGB")` does; 16-bit samples are scaled to 8 bits. Every image
//!   must have the same channel count.
//! - Every image must have the same size, unless a target size is given: then images of another
//!   size are resized with PIL-style antialiased bilinear interpolation
//!   ([`transforms::Filter::AntialiasedBilinear`]) and rounded to `u8`. Images already at the
//!   target size are kept exactly.
//!
//! The result is an [`ImageSplit`] with `u8` pixels: dims `[n, h, w]` for one channel (as the
//! idx datasets) and `[n, c, h, w]` for colour (channel-major, as CIFAR-10).
use super::transforms::{self, Filter, Images};
use super::{IdxArray, ImageSplit};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The image file extensions read (compared without regard to case).
pub const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp"];

/// The most classes an [`ImageSplit`] can label (its labels are `u8`).
pub const MAX_CLASSES: usize = 256;

/// True for names that are skipped: hidden files and directories.
fn hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// The entries of `dir` that are not hidden, sorted by file name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("reading directory", dir, e))?;
    let mut paths = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("reading directory", dir, e))?;
        if !hidden(&entry.file_name()) {
            paths.push(entry.path());
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

/// The class directories of `root` with their names, sorted by name.
fn class_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut classes = Vec::new();
    for path in sorted_entries(root)? {
        // `is_dir` follows symbolic links, as torchvision does.
        if !path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::format(&path, "class directory name is not valid UTF-8"))?
            .to_string();
        classes.push((name, path));
    }
    if classes.is_empty() {
        return Err(Error::format(
            root,
            "no class directories: an image folder is root/<class_name>/<image files>",
        ));
    }
    if classes.len() > MAX_CLASSES {
        return Err(Error::format(
            root,
            format!(
                "{} class directories; at most {MAX_CLASSES} are supported (labels are u8)",
                classes.len()
            ),
        ));
    }
    // Sorting the OS names above already gives this order on Unix; sorting the strings makes
    // it code point order everywhere.
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(classes)
}

/// The class names of the image folder at `root`: its sub-directories, sorted by name. Index
/// `k` is the name of label `k` in [`read_image_folder`]'s split.
pub fn class_names(root: &Path) -> Result<Vec<String>> {
    Ok(class_dirs(root)?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// Every image file of the folder with its label, in the order [`read_image_folder`] reads
/// them (classes by name, then files by name): torchvision's `ImageFolder.samples`.
///
/// Fails on a file that is not an image by its extension, a nested directory, an empty class
/// directory, or a folder without class directories; the message names the path.
pub fn samples(root: &Path) -> Result<Vec<(PathBuf, u8)>> {
    let mut out = Vec::new();
    for (label, (_, dir)) in class_dirs(root)?.into_iter().enumerate() {
        let before = out.len();
        for path in sorted_entries(&dir)? {
            if path.is_dir() {
                return Err(Error::format(
                    &path,
                    "nested directory: image folders are read one level deep \
                     (root/<class_name>/<image file>)",
                ));
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if !ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
                return Err(Error::format(
                    &path,
                    format!(
                        "not an image file: the extension must be one of {}",
                        EXTENSIONS.join(", ")
                    ),
                ));
            }
            // Lossless: class_dirs allows at most MAX_CLASSES = 256 classes.
            out.push((path, label as u8));
        }
        if out.len() == before {
            return Err(Error::format(
                &dir,
                format!("empty class directory: no {} files", EXTENSIONS.join("/")),
            ));
        }
    }
    Ok(out)
}

/// One decoded image: channel-major `u8` pixels.
struct Decoded {
    channels: usize,
    height: usize,
    width: usize,
    /// `[c, h, w]` row-major.
    data: Vec<u8>,
}

/// Decodes `path` to 1 (grey) or 3 (RGB) channels, channel-major.
fn decode(path: &Path) -> Result<Decoded> {
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::io("opening", path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io("reading", path, e))?
        .decode()
        .map_err(|e| Error::format(path, format!("unreadable image: {e}")))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (channels, interleaved) = if img.color().has_color() {
        (3, img.to_rgb8().into_raw())
    } else {
        (1, img.to_luma8().into_raw())
    };
    let mut data = vec![0u8; interleaved.len()];
    let hw = height * width;
    for (i, px) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            data[c * hw + i] = v;
        }
    }
    Ok(Decoded {
        channels,
        height,
        width,
        data,
    })
}

/// Resizes a decoded image to `[height, width]` (PIL-style bilinear), rounding to `u8`.
fn resize_u8(img: &Decoded, height: usize, width: usize) -> Result<Vec<u8>> {
    let x = Images::new(
        [1, img.channels, img.height, img.width],
        img.data.iter().map(|&v| v as f32).collect(),
    )?;
    let y = transforms::resize(&x, height, width, Filter::AntialiasedBilinear)?;
    Ok(y.into_data()
        .into_iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect())
}

/// Reads the image folder at `root` (see the module documentation for the layout and rules)
/// into one split, labels from the sorted class directories ([`class_names`]).
///
/// `size` is an optional target `[height, width]`: without it every image must have the size
/// of the first; with it, images of another size are resized (antialiased bilinear, as PIL).
///
/// Errors name the offending file or directory and say what is wrong: not an image by its
/// extension, unreadable or undecodable, a channel count or size unlike the first image's, an
/// empty class directory, no class directories.
pub fn read_image_folder(root: &Path, size: Option<[usize; 2]>) -> Result<ImageSplit> {
    if let Some([h, w]) = size
        && (h == 0 || w == 0)
    {
        return Err(Error::InvalidValue {
            what: "image folder target size".into(),
            value: format!("{h}x{w}"),
            expected: "a non-zero height x width".into(),
        });
    }
    let files = samples(root)?;
    let mut data = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    // The first image's path, channels and size: what every other image must agree with.
    let mut first: Option<(&Path, usize, usize, usize)> = None;
    for (path, label) in &files {
        let img = decode(path)?;
        let (c, h, w) = (img.channels, img.height, img.width);
        let (first_path, c0, h0, w0) = *first.get_or_insert((path.as_path(), c, h, w));
        if c != c0 {
            return Err(Error::format(
                path,
                format!(
                    "{c} channel(s) but {} has {c0}: every image must be grey, or every image \
                     colour",
                    first_path.display()
                ),
            ));
        }
        match size {
            Some([th, tw]) if (th, tw) != (h, w) => data.extend(resize_u8(&img, th, tw)?),
            Some(_) => data.extend_from_slice(&img.data),
            None if (h, w) != (h0, w0) => {
                return Err(Error::format(
                    path,
                    format!(
                        "size {h}x{w} (height x width) differs from {h0}x{w0} of {}; \
                         pass a target size to resize the images",
                        first_path.display()
                    ),
                ));
            }
            None => data.extend_from_slice(&img.data),
        }
        labels.push(*label);
    }
    // `samples` guarantees at least one image, so `first` is set.
    let (_, c, h0, w0) = first.ok_or_else(|| Error::format(root, "no images"))?;
    let (h, w) = size.map_or((h0, w0), |[th, tw]| (th, tw));
    let n = labels.len();
    let dims = if c == 1 {
        vec![n, h, w]
    } else {
        vec![n, c, h, w]
    };
    Ok(ImageSplit {
        images: IdxArray { dims, data },
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageFormat, Rgb, RgbImage};

    /// A 5-wide, 4-high RGB image whose pixel (x, y) channel c is `base + 10 y + 2 x + c`.
    fn rgb(base: u8) -> RgbImage {
        RgbImage::from_fn(5, 4, |x, y| {
            let v = base + 10 * y as u8 + 2 * x as u8;
            Rgb([v, v + 1, v + 2])
        })
    }

    /// The `[3, 4, 5]` channel-major bytes of `rgb(base)`.
    fn rgb_chw(base: u8) -> Vec<u8> {
        let mut v = Vec::new();
        for c in 0..3 {
            for y in 0..4 {
                for x in 0..5 {
                    v.push(base + 10 * y + 2 * x + c);
                }
            }
        }
        v
    }

    /// root/Dog/{x.png, y.jpg}, root/cat/{a.png, b.bmp, c.PNG}, a README and a hidden file.
    /// Python's `sorted` puts "Dog" before "cat" (upper case first), so Dog = 0, cat = 1.
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for c in ["cat", "Dog"] {
            std::fs::create_dir(root.join(c)).unwrap();
        }
        rgb(0).save(root.join("cat/a.png")).unwrap();
        rgb(100)
            .save_with_format(root.join("cat/b.bmp"), ImageFormat::Bmp)
            .unwrap();
        rgb(150)
            .save_with_format(root.join("cat/c.PNG"), ImageFormat::Png)
            .unwrap();
        rgb(50).save(root.join("Dog/x.png")).unwrap();
        RgbImage::from_pixel(5, 4, Rgb([200, 100, 50]))
            .save_with_format(root.join("Dog/y.jpg"), ImageFormat::Jpeg)
            .unwrap();
        std::fs::write(root.join("README.txt"), "not a class").unwrap();
        std::fs::write(root.join("cat/.DS_Store"), "hidden").unwrap();
        dir
    }

    fn err(root: &Path, size: Option<[usize; 2]>) -> String {
        read_image_folder(root, size).unwrap_err().to_string()
    }

    #[test]
    fn reads_classes_labels_and_pixels() {
        let dir = fixture();
        assert_eq!(class_names(dir.path()).unwrap(), vec!["Dog", "cat"]);
        let names: Vec<String> = samples(dir.path())
            .unwrap()
            .iter()
            .map(|(p, l)| format!("{}:{l}", p.file_name().unwrap().to_string_lossy()))
            .collect();
        assert_eq!(
            names,
            ["x.png:0", "y.jpg:0", "a.png:1", "b.bmp:1", "c.PNG:1"]
        );

        let s = read_image_folder(dir.path(), None).unwrap();
        assert_eq!(s.images.dims, vec![5, 3, 4, 5]);
        assert_eq!(s.labels, vec![0, 0, 1, 1, 1]);
        let img = |i: usize| &s.images.data[i * 60..(i + 1) * 60];
        // PNG and BMP are lossless: exact bytes, channel-major.
        assert_eq!(img(0), rgb_chw(50).as_slice());
        assert_eq!(img(2), rgb_chw(0).as_slice());
        assert_eq!(img(3), rgb_chw(100).as_slice());
        assert_eq!(img(4), rgb_chw(150).as_slice());
        // JPEG is lossy: a flat colour comes back within a few levels.
        for (c, want) in [200i32, 100, 50].into_iter().enumerate() {
            for &v in &img(1)[c * 20..(c + 1) * 20] {
                assert!((v as i32 - want).abs() <= 3, "channel {c}: {v} vs {want}");
            }
        }
    }

    #[test]
    fn grey_images_are_idx_shaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("only")).unwrap();
        GrayImage::from_fn(3, 2, |x, y| image::Luma([(10 * y + x) as u8]))
            .save(dir.path().join("only/g.png"))
            .unwrap();
        let s = read_image_folder(dir.path(), None).unwrap();
        assert_eq!(s.images.dims, vec![1, 2, 3]);
        assert_eq!(s.images.data, vec![0, 1, 2, 10, 11, 12]);
        assert_eq!(s.labels, vec![0]);
    }

    #[test]
    fn target_size_resizes_only_other_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("a")).unwrap();
        rgb(0).save(root.join("a/1.png")).unwrap();
        // Twice the size, flat: resizes to the same flat colour exactly.
        RgbImage::from_pixel(10, 8, Rgb([9, 99, 199]))
            .save(root.join("a/2.png"))
            .unwrap();
        let s = read_image_folder(root, Some([4, 5])).unwrap();
        assert_eq!(s.images.dims, vec![2, 3, 4, 5]);
        assert_eq!(&s.images.data[..60], rgb_chw(0).as_slice());
        assert!(s.images.data[60..80].iter().all(|&v| v == 9));
        assert!(s.images.data[80..100].iter().all(|&v| v == 99));
        assert!(s.images.data[100..].iter().all(|&v| v == 199));
        let e = err(root, Some([0, 5]));
        assert!(e.contains("0x5"), "{e}");
    }

    #[test]
    fn mixed_sizes_without_target_name_the_file() {
        let dir = fixture();
        RgbImage::new(6, 4)
            .save(dir.path().join("cat/d.png"))
            .unwrap();
        let e = err(dir.path(), None);
        assert!(
            e.contains("d.png") && e.contains("4x6") && e.contains("x.png"),
            "{e}"
        );
        assert!(e.contains("target size"), "{e}");
    }

    #[test]
    fn non_image_files_are_named() {
        let dir = fixture();
        std::fs::write(dir.path().join("cat/notes.txt"), "hello").unwrap();
        let e = err(dir.path(), None);
        assert!(e.contains("notes.txt") && e.contains("not an image"), "{e}");

        let dir = fixture();
        std::fs::write(dir.path().join("cat/broken.png"), "not really a png").unwrap();
        let e = err(dir.path(), None);
        assert!(e.contains("broken.png") && e.contains("unreadable"), "{e}");
    }

    #[test]
    fn inconsistent_channels_are_named() {
        let dir = fixture();
        GrayImage::new(5, 4)
            .save(dir.path().join("cat/grey.png"))
            .unwrap();
        let e = err(dir.path(), None);
        assert!(
            e.contains("grey.png") && e.contains("1 channel") && e.contains("has 3"),
            "{e}"
        );
    }

    #[test]
    fn empty_class_and_no_classes_are_named() {
        let dir = fixture();
        let empty = dir.path().join("emu");
        std::fs::create_dir(&empty).unwrap();
        std::fs::write(empty.join(".hidden"), "").unwrap();
        let e = err(dir.path(), None);
        assert!(
            e.contains("emu") && e.contains("empty class directory"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loose.png"), "").unwrap();
        let e = err(dir.path(), None);
        assert!(
            e.contains(&dir.path().display().to_string()) && e.contains("no class directories"),
            "{e}"
        );
        assert!(class_names(dir.path()).is_err());
        assert!(class_names(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn nested_directories_are_named() {
        let dir = fixture();
        std::fs::create_dir(dir.path().join("cat/kittens")).unwrap();
        let e = err(dir.path(), None);
        assert!(e.contains("kittens") && e.contains("nested"), "{e}");
    }
}
