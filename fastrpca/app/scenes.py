"""Camera sequences built from real pictures and real video, with known foreground masks.

Background subtraction is judged against ground truth, which real footage rarely has. These
builders make it by pasting real objects, with their exact outlines, into a real static
scene, then passing the result through a camera model:

* :func:`photo_scene`: a photograph shipped with scikit-image (``skimage.data``) is the
  static background; the objects are regions cut from *other* photographs of
  ``skimage.data`` (segmented coins, the horse silhouette filled with the cat's fur, an
  ellipse around the astronaut's head or the coffee cup), moving along straight paths,
  each present in part of the sequence only.
* :func:`video_scene`: the background is real video, a crop of OpenCV's ``vtest.avi``
  (Debian: ``apt-get install opencv-doc``) where nothing moves during its first 520 frames:
  real sensor noise, real MPEG compression (most temporal differences are exactly 0) and the
  camera's own slight exposure changes. The same objects are pasted in.
* :func:`video_frames`: plain ``vtest.avi`` frames (people walking, masks unknown), for
  rank and timing measurements only.

Camera model (:func:`camera`), applied in this order to the clean sequence: exposure gain
per frame (slow drift plus flicker; the whole scene, objects included, is lit the same),
Poisson-Gaussian sensor noise, 8-bit quantisation, optional JPEG round trip. The truth
mask is where an object was pasted, whatever the contrast; ``Scene.visible`` marks the
true pixels whose clean value differs from the background's by at least 2 grey levels
(an object pixel of the background's colour cannot be found by any method).

Only NumPy, SciPy, scikit-image and (for video and JPEG) OpenCV or imageio are used:
``pip install "fastrpca[io]"``. Used by the tests, the benchmarks and ``fastrpca demo``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .reading import MissingDependencyError

#: Where Debian's opencv-doc package puts the sample video; ``FASTRPCA_VTEST`` overrides.
VTEST_PATHS = (
    "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
    "/usr/share/opencv4/samples/data/vtest.avi",
)

#: The static crop of vtest.avi: rows, columns, and the frames during which it is empty.
VTEST_CROP = (slice(416, 576), slice(0, 320))
VTEST_QUIET_FRAMES = 520

#: Backgrounds available to :func:`photo_scene` (grey or colour photographs of skimage.data).
BACKGROUNDS = ("camera", "brick", "grass", "gravel", "astronaut", "coffee", "chelsea", "rocket")

OBJECTS = ("coin", "horse", "head", "cup")

#: Rec. 601 luma weights.
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass
class Scene:
    """A sequence with its ground truth.

    Attributes
    ----------
    frames : ndarray of float32 in [0, 1], shape (n, h, w) or (n, h, w, 3).
    masks : ndarray of bool, shape (n, h, w)
        True where an object was pasted.
    visible : ndarray of bool, shape (n, h, w)
        The true pixels that differ from the clean
        background by at least 2/255 (the detectable part of ``masks``).
    background : ndarray of float32, shape of ``frames``. The lit background without
        objects, noise or compression (the ideal ``L``).
    gain : ndarray, shape (n,)
        Exposure gain of each frame.
    noise : float
        Sensor noise standard deviation at mid-grey (0 for none added).
    name : str.
    params : dict
        The arguments that built the scene.
    """

    frames: np.ndarray
    masks: np.ndarray
    visible: np.ndarray
    background: np.ndarray
    gain: np.ndarray
    noise: float
    name: str
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Scene({self.name!r}, frames={self.frames.shape}, "
            f"foreground={self.masks.mean():.2%}, noise={self.noise:g})"
        )


# ---------------------------------------------------------------------------- pictures
def _require(module: str, what: str):
    """Import an optional dependency, or say which package and extra brings it."""
    import importlib

    package = {"skimage": "scikit-image", "cv2": "opencv-python-headless"}[module.split(".")[0]]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} needs {package}: pip install {package} (or pip install 'fastrpca[io]')"
        ) from exc


def _skdata(name: str) -> np.ndarray:
    return getattr(_require("skimage.data", "the photographs of the scenes"), name)()


def _as_float(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        return img.astype(np.float64)
    if img.dtype.kind in "ui":
        return img.astype(np.float64) / np.iinfo(img.dtype).max
    return img.astype(np.float64)


def _rgb(img: np.ndarray) -> np.ndarray:
    """Float RGB (h, w, 3) from grey, RGB or RGBA."""
    img = _as_float(img)
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return img[..., :3]


def _resize(img: np.ndarray, shape) -> np.ndarray:
    resize = _require("skimage.transform", "resizing the scenes' pictures").resize
    return resize(img, tuple(shape) + img.shape[2:], order=1, anti_aliasing=True, mode="edge")


def _resize_mask(mask: np.ndarray, shape) -> np.ndarray:
    resize = _require("skimage.transform", "resizing the scenes' pictures").resize
    return resize(mask.astype(np.float64), shape, order=1, anti_aliasing=True) > 0.5


def background_picture(name: str, size) -> np.ndarray:
    """A ``skimage.data`` photograph, centre-cropped to the aspect of ``size`` and resized.

    Returns float RGB in [0, 1], shape (h, w, 3).
    """
    if name not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {name!r}")
    img = _rgb(_skdata(name))
    h, w = size
    H, W = img.shape[:2]
    if H * w > W * h:  # too tall: crop rows
        keep = max(1, round(W * h / w))
        top = (H - keep) // 2
        img = img[top : top + keep]
    else:
        keep = max(1, round(H * w / h))
        left = (W - keep) // 2
        img = img[:, left : left + keep]
    return np.clip(_resize(img, (h, w)), 0.0, 1.0)


@lru_cache(maxsize=1)
def _coins() -> tuple:
    """Individual coins of ``skimage.data.coins()``: (patch, mask) pairs of real pixels."""
    from scipy import ndimage

    sobel = _require("skimage.filters", "cutting out the coins").sobel
    measure = _require("skimage.measure", "cutting out the coins")
    label, regionprops = measure.label, measure.regionprops
    watershed = _require("skimage.segmentation", "cutting out the coins").watershed

    img = _as_float(_skdata("coins"))
    markers = np.zeros(img.shape, np.int32)  # region growing from sure background / coin
    markers[img < 30 / 255] = 1
    markers[img > 150 / 255] = 2
    coins = ndimage.binary_fill_holes(watershed(sobel(img), markers) == 2)
    out = []
    for r in regionprops(label(coins)):
        r0, c0, r1, c1 = r.bbox
        if (
            r.area < 900
            or r.solidity < 0.93
            or r0 == 0
            or c0 == 0
            or r1 == img.shape[0]
            or c1 == img.shape[1]
        ):
            continue
        out.append((img[r0:r1, c0:c1], r.image.copy()))
    return tuple(out)


def _ellipse_cut(img, center, radii):
    """The pixels of ``img`` inside an axis-aligned ellipse, with its mask."""
    (cy, cx), (ry, rx) = center, radii
    patch = img[cy - ry : cy + ry, cx - rx : cx + rx]
    yy, xx = np.mgrid[-ry:ry, -rx:rx] + 0.5
    return patch, (yy / ry) ** 2 + (xx / rx) ** 2 <= 1.0


def object_picture(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A real object and its exact outline: (RGB patch in [0, 1], bool mask), full size.

    ``"coin"``: one of the segmented coins of ``coins()`` (chosen by ``rng``);
    ``"horse"``: the ``horse()`` silhouette filled with the fur of ``chelsea()``;
    ``"head"``: an ellipse around the astronaut's helmet; ``"cup"``: one around the
    coffee cup.
    """
    if kind == "coin":
        coins = _coins()
        patch, mask = coins[int(rng.integers(len(coins)))]
        return _rgb(patch), mask
    if kind == "horse":
        mask = ~_skdata("horse")
        rows, cols = np.nonzero(mask)
        mask = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        fur = _rgb(_skdata("chelsea"))[60:260, 40:300]
        return _resize(fur, mask.shape), mask
    if kind == "head":
        return _ellipse_cut(_rgb(_skdata("astronaut")), (110, 225), (95, 80))
    if kind == "cup":
        return _ellipse_cut(_rgb(_skdata("coffee")), (200, 300), (150, 190))
    raise ValueError(f"object kind must be one of {OBJECTS}, got {kind!r}")


# ---------------------------------------------------------------------------- motion
def _tracks(rng, n_frames, size, kinds, scale):
    """Objects with their size and a straight path; each visible in part of the sequence."""
    h, w = size
    tracks = []
    for kind in kinds:
        patch, mask = object_picture(kind, rng)
        height = max(3, round(scale * min(h, w) * rng.uniform(0.8, 1.25)))
        width = max(3, round(height * mask.shape[1] / mask.shape[0]))
        width = min(width, w - 1)
        mask = _resize_mask(mask, (height, width))
        patch = np.clip(_resize(patch, (height, width)), 0.0, 1.0)
        # Enter at one side, leave at the other, over a random part of the sequence.
        duration = max(2, round(n_frames * rng.uniform(0.35, 0.6)))
        t0 = int(rng.integers(0, max(1, n_frames - duration + 1)))
        y0, y1 = rng.uniform(-0.2 * height, h - 0.8 * height, size=2)
        x0, x1 = -0.8 * width, w - 0.2 * width
        if rng.random() < 0.5:
            x0, x1 = x1, x0
        tracks.append(
            {
                "kind": kind,
                "patch": patch,
                "mask": mask,
                "t0": t0,
                "t1": t0 + duration,
                "start": (y0, x0),
                "end": (y1, x1),
            }
        )
    return tracks


def _paste(frames, masks, tracks):
    """Composite the objects (hard masks, the truth) into float RGB frames, in place."""
    n, h, w = frames.shape[:3]
    for tr in tracks:
        ph, pw = tr["mask"].shape
        for t in range(tr["t0"], min(tr["t1"], n)):
            a = (t - tr["t0"]) / max(1, tr["t1"] - tr["t0"] - 1)
            y = round(tr["start"][0] + a * (tr["end"][0] - tr["start"][0]))
            x = round(tr["start"][1] + a * (tr["end"][1] - tr["start"][1]))
            r0, r1, c0, c1 = max(y, 0), min(y + ph, h), max(x, 0), min(x + pw, w)
            if r0 >= r1 or c0 >= c1:
                continue
            m = tr["mask"][r0 - y : r1 - y, c0 - x : c1 - x]
            region = frames[t, r0:r1, c0:c1]
            region[m] = tr["patch"][r0 - y : r1 - y, c0 - x : c1 - x][m]
            masks[t, r0:r1, c0:c1] |= m


# ---------------------------------------------------------------------------- camera
def exposure_gain(
    n_frames: int, rng: np.random.Generator, *, drift: float = 0.0, flicker: float = 0.0
) -> np.ndarray:
    """Per-frame exposure gain: a smooth drift over ``drift`` (e.g. 0.04 = 4 %, peak to
    peak, half a cosine period across the sequence) times flicker (i.i.d. Gaussian with
    standard deviation ``flicker``)."""
    t = np.arange(n_frames) / max(1, n_frames - 1)
    slow = 1.0 + drift * (0.5 - 0.5 * np.cos(np.pi * t)) - drift / 2
    return slow * (1.0 + flicker * rng.standard_normal(n_frames))


def sensor_noise(
    x: np.ndarray, rng: np.random.Generator, sigma: float, read_fraction: float = 0.5
) -> np.ndarray:
    """Poisson-Gaussian noise with standard deviation ``sigma`` at mid-grey (0.5).

    ``read_fraction * sigma`` is signal-independent read noise; the rest of the variance at
    0.5 is shot noise, whose variance grows linearly with the signal (photon counting).
    """
    if sigma <= 0:
        return x
    read = read_fraction * sigma
    k = (sigma**2 - read**2) / 0.5  # variance per unit of signal
    photons = rng.poisson(np.clip(x, 0.0, None) / k)
    return photons * k + read * rng.standard_normal(x.shape)


def jpeg_roundtrip(frame_u8: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode one uint8 frame (grey or RGB) as JPEG at ``quality`` (1..100)."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        bgr = frame_u8[..., ::-1] if frame_u8.ndim == 3 else frame_u8
        ok, buf = cv2.imencode(
            ".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
        )
        if not ok:
            raise RuntimeError("OpenCV failed to encode a JPEG frame")
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        return out[..., ::-1] if out.ndim == 3 else out
    import io

    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", frame_u8, extension=".jpg", quality=int(quality))
    return np.asarray(iio.imread(io.BytesIO(data), extension=".jpg"))


def camera(
    clean: np.ndarray,
    rng: np.random.Generator,
    *,
    gain=None,
    noise: float = 0.0,
    jpeg: int | None = None,
    quantize: bool = True,
) -> np.ndarray:
    """The camera model: gain, Poisson-Gaussian noise, 8-bit quantisation, JPEG.

    Parameters
    ----------
    clean : ndarray, shape (n, h, w) or (n, h, w, 3), values in [0, 1].
    rng : Generator.
    gain : ndarray of shape (n,), optional
        Exposure gain of each frame.
    noise : float
        Sensor noise standard deviation at mid-grey.
    jpeg : int, optional
        JPEG quality; None skips compression.
    quantize : bool
        Round to 8 bits (always done when ``jpeg`` is set).

    Returns
    -------
    ndarray of float32 in [0, 1], shape of ``clean``.
    """
    x = np.asarray(clean, np.float64)
    if gain is not None:
        x = x * np.asarray(gain, np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
    x = np.clip(sensor_noise(x, rng, noise), 0.0, 1.0)
    if not (quantize or jpeg):
        return x.astype(np.float32)
    u8 = np.rint(x * 255.0).astype(np.uint8)
    if jpeg:
        u8 = np.stack([jpeg_roundtrip(f, jpeg) for f in u8])
    return u8.astype(np.float32) / np.float32(255.0)


def _grey(x: np.ndarray) -> np.ndarray:
    return x @ _LUMA


def _finish(name, clean_bg, clean, masks, rng, gain, noise, jpeg, color, params, frames=None):
    visible = masks & (np.abs(clean - clean_bg).max(axis=-1) >= 2.0 / 255.0)
    if not color:
        clean_bg, clean = _grey(clean_bg), _grey(clean)
    if frames is None:
        frames = camera(
            clean, rng, gain=gain, noise=noise, jpeg=jpeg, quantize=noise > 0 or bool(jpeg)
        )
    lit_bg = clean_bg * gain.reshape((-1,) + (1,) * (clean_bg.ndim - 1))
    return Scene(
        frames=frames,
        masks=masks,
        visible=visible,
        background=np.clip(lit_bg, 0, 1).astype(np.float32),
        gain=gain,
        noise=float(noise),
        name=name,
        params=params,
    )


def _check(n_frames, size):
    n_frames = int(n_frames)
    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2, got {n_frames}")
    h, w = (int(s) for s in size)
    if min(h, w) < 8:
        raise ValueError(f"size must be (height, width) with both >= 8, got {size}")
    return n_frames, (h, w)


def photo_scene(
    n_frames: int = 60,
    size=(96, 128),
    *,
    seed: int = 0,
    background: str = "camera",
    objects=("coin", "horse", "head", "cup"),
    scale: float = 0.3,
    color: bool = False,
    effects: bool = True,
    noise: float = 0.01,
    flicker: float = 0.005,
    drift: float = 0.0,
    jpeg: int | None = 90,
) -> Scene:
    """A still photograph with real objects crossing it, through the camera model.

    Parameters
    ----------
    n_frames : int
        Number of frames (>= 2).
    size : (height, width)
        Frame size (>= 8 each).
    seed : int
        Everything random (object choice, paths, timing, noise) follows from it.
    background : str
        One of :data:`BACKGROUNDS` (a ``skimage.data`` photograph).
    objects : sequence of str
        Kinds from :data:`OBJECTS`, one object each (repeat a kind
        for several).
    scale : float
        Object height as a fraction of the frame's smaller side (+-25 %).
    color : bool
        RGB frames (n, h, w, 3) instead of grey (Rec. 601 luma).
    effects : bool
        False gives the clean sequence (no gain, noise, quantisation or JPEG);
        the effect parameters below are then ignored.
    noise : float
        Sensor noise standard deviation at mid-grey (Poisson-Gaussian).
    flicker : float
        Standard deviation of the per-frame exposure jitter.
    drift : float
        Peak-to-peak slow exposure drift over the sequence (0.04 = 4 %).
    jpeg : int or None
        JPEG quality of each frame; None for none.

    Returns
    -------
    Scene
    """
    n_frames, size = _check(n_frames, size)
    params = {
        "n_frames": n_frames,
        "size": size,
        "seed": seed,
        "background": background,
        "objects": tuple(objects),
        "scale": scale,
        "color": color,
        "effects": effects,
        "noise": noise,
        "flicker": flicker,
        "drift": drift,
        "jpeg": jpeg,
    }
    rng = np.random.default_rng(seed)
    bg = background_picture(background, size)
    clean = np.repeat(bg[None], n_frames, axis=0)
    masks = np.zeros((n_frames,) + size, bool)
    _paste(clean, masks, _tracks(rng, n_frames, size, objects, scale))
    clean_bg = np.broadcast_to(bg, clean.shape)
    if not effects:
        noise, flicker, drift, jpeg = 0.0, 0.0, 0.0, None
    gain = exposure_gain(n_frames, rng, drift=drift, flicker=flicker)
    return _finish(
        f"photo:{background}", clean_bg, clean, masks, rng, gain, noise, jpeg, color, params
    )


# ---------------------------------------------------------------------------- video
def vtest_path(path=None) -> Path:
    """Location of OpenCV's ``vtest.avi``: ``path``, ``$FASTRPCA_VTEST``, or the known
    install locations (Debian's ``opencv-doc``)."""
    candidates = [path] if path is not None else [os.environ.get("FASTRPCA_VTEST"), *VTEST_PATHS]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise FileNotFoundError(
        "vtest.avi not found; install it (Debian/Ubuntu: apt-get install opencv-doc) or "
        "set FASTRPCA_VTEST=/path/to/vtest.avi"
    )


def read_video(
    path, n_frames: int, *, start: int = 0, step: int = 1, color: bool = False
) -> np.ndarray:
    """Frames ``start, start + step, ...`` of a video as float32 in [0, 1] (OpenCV).

    Returns shape (n, h, w) (grey, Rec. 601 luma of the decoded frames) or (n, h, w, 3) RGB.
    """
    cv2 = _require("cv2", "reading vtest.avi")

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"OpenCV cannot open the video {path}")
    out = []
    try:
        index = 0
        while len(out) < n_frames:
            ok, frame = cap.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                rgb = frame[..., ::-1].astype(np.float32) / np.float32(255.0)
                out.append(rgb if color else rgb @ _LUMA.astype(np.float32))
            index += 1
    finally:
        cap.release()
    if len(out) < n_frames:
        raise ValueError(
            f"{path} has only {len(out)} frames from {start} in steps of {step}, "
            f"{n_frames} requested"
        )
    return np.stack(out)


def _downsample(frames: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return frames
    n, h, w = frames.shape[:3]
    h, w = h // factor * factor, w // factor * factor
    f = frames[:, :h, :w].reshape((n, h // factor, factor, w // factor, factor) + frames.shape[3:])
    return f.mean(axis=(2, 4), dtype=np.float64).astype(np.float32)


def video_frames(
    n_frames: int = 50,
    *,
    start: int = 0,
    step: int = 1,
    downsample: int = 1,
    color: bool = False,
    path=None,
) -> np.ndarray:
    """Plain ``vtest.avi`` frames (576 x 768 before ``downsample``), for rank and timing.

    People walk through them: the foreground is real but its mask is unknown.
    """
    frames = read_video(vtest_path(path), n_frames, start=start, step=step, color=color)
    return _downsample(frames, int(downsample))


def video_scene(
    n_frames: int = 60,
    *,
    seed: int = 0,
    start: int = 0,
    step: int = 4,
    downsample: int = 1,
    objects=("coin", "horse", "head", "cup"),
    scale: float = 0.35,
    color: bool = False,
    flicker: float = 0.0,
    drift: float = 0.0,
    noise: float = 0.0,
    jpeg: int | None = None,
    path=None,
) -> Scene:
    """Real video (an empty 160 x 320 crop of ``vtest.avi``) with real objects pasted in.

    The video brings its own sensor noise, MPEG compression and slight exposure changes.
    Objects are pasted into the decoded frames, then the optional extra effects (gain,
    noise, JPEG) are applied to everything.

    Parameters
    ----------
    n_frames : int
        Frames ``start, start + step, ...`` are used, all within the first
        520 frames of the video (the crop is empty there).
    seed : int
        Object choice, paths, timing and extra noise.
    start, step : int
        Which frames of the video.
    downsample : int
        Average ``downsample x downsample`` blocks (1 = 160 x 320).
    objects, scale, color : as in :func:`photo_scene`.
    flicker, drift, noise, jpeg : extra camera effects on top of the video's own
        (default none).
    path : path, optional
        The video (default :func:`vtest_path`).

    Returns
    -------
    Scene. ``background`` is the crop's per-pixel temporal median over the frames used
    (the video's own noise is part of ``frames`` only); ``noise`` is the extra noise.
    """
    n_frames = int(n_frames)
    last = start + (n_frames - 1) * step
    if last >= VTEST_QUIET_FRAMES:
        raise ValueError(
            f"frames {start}..{last} go past frame {VTEST_QUIET_FRAMES - 1}, "
            f"after which people walk through the crop; lower n_frames or step"
        )
    params = {
        "n_frames": n_frames,
        "seed": seed,
        "start": start,
        "step": step,
        "downsample": downsample,
        "objects": tuple(objects),
        "scale": scale,
        "color": color,
        "flicker": flicker,
        "drift": drift,
        "noise": noise,
        "jpeg": jpeg,
    }
    rng = np.random.default_rng(seed)
    video = read_video(vtest_path(path), n_frames, start=start, step=step, color=True)
    video = _downsample(video[:, VTEST_CROP[0], VTEST_CROP[1]], int(downsample))
    video = video.astype(np.float64)
    size = video.shape[1:3]
    masks = np.zeros((n_frames,) + size, bool)
    clean = video.copy()
    _paste(clean, masks, _tracks(rng, n_frames, size, objects, scale))
    clean_bg = np.broadcast_to(np.median(video, axis=0), video.shape)
    gain = exposure_gain(n_frames, rng, drift=drift, flicker=flicker)
    frames = camera(
        clean if color else _grey(clean), rng, gain=gain, noise=noise, jpeg=jpeg, quantize=True
    )
    # the truth compares the pasted object with the video frame it covers
    scene = _finish(
        "video:vtest", video, clean, masks, rng, gain, noise, jpeg, color, params, frames=frames
    )
    median = _grey(clean_bg) if not color else clean_bg
    scene.background = np.clip(
        median * gain.reshape((-1,) + (1,) * (median.ndim - 1)), 0, 1
    ).astype(np.float32)
    return scene
