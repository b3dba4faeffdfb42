"""Build the face test set in tests/data/ (images + testset.json). Deterministic; run it again to rebuild.

    .venv/bin/python tests/data/make_testset.py

Sources, all free to redistribute:
- `skimage.data.astronaut()`: NASA portrait of Eileen Collins, public domain (scikit-image ships it).
- matplotlib's `sample_data/grace_hopper.jpg`: official US Navy portrait of Grace Hopper, a work of the
  US government, public domain. It is the "unrelated face" for identity tests: a real, different
  person (a warped or recoloured astronaut would still be the astronaut to a face recogniser).
- `skimage.data` photos without faces (coffee, chelsea the cat, rocket, horse, brick, hubble) as
  negatives; procedural "studio" scenes drawn here.

Scenes: the portraits scaled into synthetic full-body canvases (face 40–120 px wide), turned in-plane,
mirrored, partly covered (sunglasses, a skin-coloured hand, a block), darkened and over-exposed,
JPEG-compressed, several faces in one picture, headless mannequins; plus badly encoded files under
bad/ (truncated, CMYK, 16-bit, grey, alpha, EXIF-rotated, not an image).

Ground-truth face boxes follow the detector's box convention: the portraits' boxes were measured
once with YuNet at full resolution and checked by eye, then moved with the same transform as the
pixels. For a turned face the box is the face's own box (its upright size) centred on the face.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent
SEED = 20261124

# (x, y, w, h) of the face in each portrait at its native resolution.
ASTRONAUT_FACE = (178.0, 62.6, 90.4, 113.9)
HOPPER_FACE = (182.6, 120.0, 170.1, 212.5)
# Head-and-hair ellipse relative to the face box: centre offset and half-axes, in face widths.
HEAD_ELLIPSE = {"astronaut": ((0.0, 0.05), (0.95, 1.2)), "hopper": ((0.0, 0.0), (0.75, 0.95))}


def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def hopper_bgr() -> np.ndarray:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image


def skimage_photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[:, :, :3][:, :, ::-1])


class Builder:
    def __init__(self):
        self.rng = np.random.default_rng(SEED)
        self.portraits = {"astronaut": (astronaut_bgr(), ASTRONAUT_FACE), "hopper": (hopper_bgr(), HOPPER_FACE)}
        self.entries: list[dict] = []

    # scenery
    def background(self, height: int, width: int) -> np.ndarray:
        """A studio backdrop: vertical gradient, a floor, a few soft props; compresses well."""
        top, bottom = self.rng.uniform(150, 245, 3), self.rng.uniform(90, 200, 3)
        t = np.linspace(0.0, 1.0, height)[:, None, None]
        canvas = (top * (1 - t) + bottom * t).repeat(width, axis=1)
        floor = int(height * self.rng.uniform(0.82, 0.9))
        canvas[floor:] = canvas[floor:] * 0.8
        for _ in range(3):
            x0, y0 = int(self.rng.uniform(0, width * 0.8)), int(self.rng.uniform(0, height * 0.7))
            x1, y1 = x0 + int(width * self.rng.uniform(0.05, 0.2)), y0 + int(height * self.rng.uniform(0.1, 0.3))
            cv2.rectangle(canvas, (x0, y0), (x1, y1), tuple(float(v) for v in self.rng.uniform(60, 230, 3)), -1)
        canvas = cv2.GaussianBlur(canvas, (0, 0), 3)
        canvas += self.rng.normal(0, 1.5, canvas.shape)
        return np.clip(canvas, 0, 255).astype(np.uint8)

    def mannequin(self, canvas: np.ndarray, neck: tuple[float, float], unit: float, skin) -> None:
        """Body below a head: garment torso with stripes, skin-coloured arms and hands, trousers."""
        x, y = neck
        garment = tuple(float(v) for v in self.rng.uniform(20, 220, 3))
        trousers = tuple(float(v) for v in self.rng.uniform(20, 120, 3))
        skin = tuple(float(v) for v in skin)
        shoulders = y + 0.3 * unit
        torso = np.array([[x - 1.1 * unit, shoulders], [x + 1.1 * unit, shoulders], [x + 0.9 * unit, y + 3.4 * unit],
                          [x - 0.9 * unit, y + 3.4 * unit]])
        for side in (-1, 1):  # arms
            arm = np.array([[x + side * 1.0 * unit, shoulders], [x + side * 1.45 * unit, shoulders + 0.2 * unit],
                            [x + side * 1.7 * unit, y + 3.3 * unit], [x + side * 1.35 * unit, y + 3.3 * unit]])
            cv2.fillPoly(canvas, [np.round(arm).astype(np.int32)], skin, cv2.LINE_AA)
            cv2.circle(canvas, (int(x + side * 1.52 * unit), int(y + 3.45 * unit)), max(2, int(0.22 * unit)), skin, -1,
                       cv2.LINE_AA)
        cv2.fillPoly(canvas, [np.round(torso).astype(np.int32)], garment, cv2.LINE_AA)
        stripe = tuple(min(255.0, v + 60) for v in garment)
        for k in range(1, 6):
            yy = int(shoulders + k * 0.5 * unit)
            cv2.line(canvas, (int(x - 0.95 * unit), yy), (int(x + 0.95 * unit), yy), stripe, max(1, int(unit * 0.08)))
        for side in (-1, 1):  # legs
            leg = np.array([[x + side * 0.05 * unit, y + 3.4 * unit], [x + side * 0.85 * unit, y + 3.4 * unit],
                            [x + side * 0.7 * unit, y + 7.0 * unit], [x + side * 0.2 * unit, y + 7.0 * unit]])
            cv2.fillPoly(canvas, [np.round(leg).astype(np.int32)], trousers, cv2.LINE_AA)

    def paste_head(self, canvas: np.ndarray, who: str, face_width: float, center: tuple[float, float],
                   angle: float = 0.0, mirror: bool = False) -> dict:
        """Blend a portrait's head into the canvas; the face centre lands on `center`.

        `angle` turns the head counter-clockwise on screen (degrees). Returns the ground truth."""
        portrait, (fx, fy, fw, fh) = self.portraits[who]
        if mirror:
            portrait = np.ascontiguousarray(portrait[:, ::-1])
            fx = portrait.shape[1] - fx - fw
        scale = face_width / fw
        face_center = (fx + fw / 2, fy + fh / 2)
        matrix = cv2.getRotationMatrix2D(face_center, angle, scale)
        matrix[:, 2] += (center[0] - face_center[0], center[1] - face_center[1])
        (ox, oy), (ax, ay) = HEAD_ELLIPSE[who]
        alpha = np.zeros(portrait.shape[:2], np.float32)
        cv2.ellipse(alpha, (int(face_center[0] + ox * fw), int(face_center[1] + oy * fw)),
                    (int(ax * fw), int(ay * fw)), 0, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), fw * 0.06)
        size = (canvas.shape[1], canvas.shape[0])
        warped = cv2.warpAffine(portrait, matrix, size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
        weight = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR)[:, :, None]
        canvas[:] = np.clip(canvas * (1 - weight) + warped * weight + 0.5, 0, 255).astype(np.uint8)
        w, h = fw * scale, fh * scale
        return {"box": [round(center[0] - w / 2, 1), round(center[1] - h / 2, 1), round(w, 1), round(h, 1)],
                "identity": who, "roll": round(-angle, 1), "mirrored": mirror}

    def skin_of(self, who: str) -> np.ndarray:
        portrait, (fx, fy, fw, fh) = self.portraits[who]
        cheek = portrait[int(fy + fh * 0.55):int(fy + fh * 0.7), int(fx + fw * 0.15):int(fx + fw * 0.3)]
        return cheek.reshape(-1, 3).mean(0)

    def body_scene(self, height: int, width: int, who: str, face_width: float, angle: float = 0.0,
                   mirror: bool = False, center_x: float | None = None) -> tuple[np.ndarray, dict]:
        canvas = self.background(height, width)
        unit = face_width * 1.15
        cx = width * self.rng.uniform(0.3, 0.7) if center_x is None else center_x
        cy = min(height * 0.3, self.rng.uniform(1.6, 3.0) * unit + height * 0.05)
        self.mannequin(canvas, (cx, cy + 0.55 * unit), unit, self.skin_of(who))
        truth = self.paste_head(canvas, who, face_width, (cx, cy), angle, mirror)
        return canvas, truth

    # output
    def save(self, name: str, image: np.ndarray, kind: str, faces: list[dict], tags: list[str], quality: int = 90,
             occluders: list[dict] | None = None) -> None:
        file = f"{name}.jpg"
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        (OUT / "images").mkdir(exist_ok=True)
        (OUT / "images" / file).write_bytes(buf.tobytes())
        self.entries.append({"name": name, "file": f"images/{file}", "kind": kind,
                             "size": [int(image.shape[1]), int(image.shape[0])], "faces": faces,
                             "occluders": occluders or [], "tags": tags})

    def build(self) -> None:
        astronaut, hopper = self.portraits["astronaut"][0], self.portraits["hopper"][0]
        self.save("portrait_astronaut", astronaut, "face", [self._portrait_truth("astronaut")], ["portrait"], 92)
        mirrored = np.ascontiguousarray(astronaut[:, ::-1])
        truth = self._portrait_truth("astronaut")
        x, y, w, h = truth["box"]
        truth = {**truth, "box": [round(512 - x - w, 1), y, w, h], "mirrored": True}
        self.save("portrait_astronaut_mirror", mirrored, "face", [truth], ["portrait", "mirror"], 92)
        self.save("portrait_hopper", hopper, "face", [self._portrait_truth("hopper")], ["portrait", "unrelated"], 92)
        closeup = cv2.resize(astronaut[20:300, 90:370], (700, 700), interpolation=cv2.INTER_CUBIC)
        x, y, w, h = ASTRONAUT_FACE
        zoom = 700 / 280
        truth = {"box": [round((x - 90) * zoom, 1), round((y - 20) * zoom, 1), round(w * zoom, 1), round(h * zoom, 1)],
                 "identity": "astronaut", "roll": 0.0, "mirrored": False}
        self.save("portrait_closeup", closeup, "face", [truth], ["portrait", "large-face"], 90)

        for width in (40, 48, 56, 72, 96, 120):
            who = "hopper" if width in (48, 96) else "astronaut"
            image, truth = self.body_scene(1350, 900, who, width)
            self.save(f"body_w{width}", image, "face", [truth], ["full-body", "small-face" if width < 64 else "body"])
        image, truth = self.body_scene(3000, 2000, "astronaut", 60)
        self.save("body_large_w60", image, "face", [truth], ["full-body", "large-canvas", "small-face"], 85)
        image, truth = self.body_scene(3000, 2000, "hopper", 180)
        self.save("body_large_w180", image, "face", [truth], ["full-body", "large-canvas"], 85)

        for angle in (-60, -45, -30, 30, 45, 60):
            image, truth = self.body_scene(1350, 900, "astronaut", 100, angle=angle)
            self.save(f"rot{angle:+d}", image, "face", [truth], ["rotated"])
        image, truth = self.body_scene(1350, 900, "hopper", 56, angle=40)
        self.save("rot+40_w56", image, "face", [truth], ["rotated", "small-face"])
        image, truth = self.body_scene(1350, 900, "astronaut", 80, mirror=True)
        self.save("mirror_w80", image, "face", [truth], ["mirror"])

        self._occluded()
        self._lighting()

        image, truth = self.body_scene(1350, 900, "astronaut", 64)
        self.save("jpeg_q12_w64", image, "face", [truth], ["jpeg"], quality=12)
        self.save("jpeg_q10_portrait", astronaut, "face", [self._portrait_truth("astronaut")], ["jpeg", "portrait"], 10)

        canvas = self.background(1200, 1600)
        faces = []
        for who, width, cx, mirror in (("astronaut", 110, 350.0, False), ("hopper", 80, 800.0, False),
                                       ("astronaut", 60, 1250.0, True)):
            self.mannequin(canvas, (cx, 330 + 0.6 * width), width * 1.15, self.skin_of(who))
            faces.append(self.paste_head(canvas, who, width, (cx, 330.0), mirror=mirror))
        self.save("group_three", canvas, "face", faces, ["multi-face"])

        self._negatives()
        (OUT / "testset.json").write_text(json.dumps({
            "about": "Generated by tests/data/make_testset.py; boxes are [x, y, w, h] in pixels, roll in degrees "
                     "(positive: face turned clockwise on screen). Occluders are polygons in image pixels.",
            "identities": {"astronaut": "skimage.data.astronaut, NASA, public domain",
                           "hopper": "matplotlib sample_data/grace_hopper.jpg, US Navy, public domain"},
            "images": self.entries}, indent=1))
        self._bad_inputs()

    def _portrait_truth(self, who: str) -> dict:
        box = HOPPER_FACE if who == "hopper" else ASTRONAUT_FACE
        return {"box": list(box), "identity": who, "roll": 0.0, "mirrored": False}

    def _occluded(self) -> None:
        for kind in ("glasses", "hand", "block"):
            image, truth = self.body_scene(1350, 900, "astronaut", 110)
            x, y, w, h = truth["box"]
            if kind == "glasses":
                eye_y = y + 0.42 * h
                polygon = []
                for ex in (x + 0.3 * w, x + 0.72 * w):
                    lens = cv2.ellipse2Poly((int(ex), int(eye_y)), (int(0.2 * w), int(0.12 * h)), 0, 0, 360, 20)
                    cv2.fillPoly(image, [lens], (25, 20, 30), cv2.LINE_AA)
                    polygon.append(lens.tolist())
                cv2.line(image, (int(x + 0.45 * w), int(eye_y)), (int(x + 0.57 * w), int(eye_y)), (25, 20, 30),
                         max(2, int(w * 0.04)))
                occluders = [{"kind": "glasses", "polygons": polygon}]
            elif kind == "hand":
                palm_x, palm_y = x + 0.62 * w, y + 0.95 * h
                u = w * 0.22
                hand = [(palm_x - 1.3 * u, palm_y + 1.6 * u), (palm_x - 1.2 * u, palm_y - 0.2 * u)]
                for k in range(4):  # four fingers reaching up over mouth and cheek
                    fx = palm_x - 1.0 * u + k * 0.62 * u
                    tip = palm_y - (1.5 + 0.25 * (k % 3)) * u
                    hand += [(fx, tip), (fx + 0.5 * u, tip), (fx + 0.55 * u, palm_y - 0.2 * u)]
                hand += [(palm_x + 1.5 * u, palm_y + 1.6 * u)]
                polygon = np.round(np.array(hand)).astype(np.int32)
                skin = self.skin_of("astronaut") * 0.92
                cv2.fillPoly(image, [polygon], tuple(float(v) for v in skin), cv2.LINE_AA)
                occluders = [{"kind": "hand", "polygons": [polygon.tolist()]}]
            else:
                polygon = np.round(np.array([(x + 0.62 * w, y - 0.1 * h), (x + 1.2 * w, y - 0.1 * h),
                                             (x + 1.2 * w, y + 1.1 * h), (x + 0.62 * w, y + 1.1 * h)])).astype(np.int32)
                cv2.fillPoly(image, [polygon], (160, 60, 40))
                occluders = [{"kind": "block", "polygons": [polygon.tolist()]}]
            self.save(f"occluded_{kind}", image, "face", [truth], ["occluded"], occluders=occluders)

    def _lighting(self) -> None:
        astronaut = self.portraits["astronaut"][0]
        for name, gain, offset in (("dark", 0.3, 0.0), ("bright", 1.6, 60.0)):
            image, truth = self.body_scene(1350, 900, "astronaut", 80)
            self.save(f"{name}_w80", np.clip(image * gain + offset, 0, 255).astype(np.uint8), "face", [truth], [name])
            self.save(f"{name}_portrait", np.clip(astronaut * gain + offset, 0, 255).astype(np.uint8), "face",
                      [self._portrait_truth("astronaut")], [name, "portrait"])

    def _negatives(self) -> None:
        for name in ("coffee", "chelsea", "rocket", "horse", "brick"):
            self.save(f"noface_{name}", skimage_photo(name), "no-face", [], ["no-face", "photo"], 85)
        hubble = cv2.resize(skimage_photo("hubble_deep_field"), (500, 436), interpolation=cv2.INTER_AREA)
        self.save("noface_hubble", hubble, "no-face", [], ["no-face", "photo"], 85)
        for k in range(2):  # headless mannequins: skin-coloured arms and a garment, no head
            canvas = self.background(1350, 900)
            self.mannequin(canvas, (450.0, 300.0), 120.0, self.skin_of("astronaut" if k == 0 else "hopper"))
            self.save(f"noface_mannequin{k}", canvas, "no-face", [], ["no-face", "procedural"])
        noise = np.clip(cv2.GaussianBlur(self.rng.normal(128, 60, (600, 600, 3)), (0, 0), 2), 0, 255).astype(np.uint8)
        self.save("noface_noise", noise, "no-face", [], ["no-face", "procedural"])
        self.save("noface_flat", np.full((400, 600, 3), 200, np.uint8), "no-face", [], ["no-face", "procedural"])

    def _bad_inputs(self) -> None:
        bad = OUT / "bad"
        bad.mkdir(exist_ok=True)
        rgb = Image.fromarray(cv2.resize(self.portraits["astronaut"][0], (256, 256),
                                         interpolation=cv2.INTER_AREA)[:, :, ::-1].copy())
        buf = io.BytesIO()
        rgb.save(buf, "JPEG", quality=90)
        (bad / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 5])
        rgb.convert("CMYK").save(bad / "cmyk.jpg", "JPEG", quality=90)
        grey = np.asarray(rgb.convert("L"), np.uint16) * 257
        Image.fromarray(grey).save(bad / "grey16.png")  # PIL stores uint16 arrays as mode I;16
        rgb.convert("L").save(bad / "grey.png")
        rgba = rgb.convert("RGBA")
        alpha = np.zeros((256, 256), np.uint8)
        cv2.ellipse(alpha, (112, 64), (70, 85), 0, 0, 360, 255, -1)
        rgba.putalpha(Image.fromarray(alpha))
        rgba.save(bad / "alpha.png")
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation 6: a viewer turns the stored pixels 90° clockwise
        rgb.rotate(90, expand=True).save(bad / "exif_rotated.jpg", "JPEG", quality=90, exif=exif.tobytes())
        (bad / "not_an_image.png").write_bytes(b"this is text with a .png name\n")
        (bad / "empty.jpg").write_bytes(b"")


if __name__ == "__main__":
    Builder().build()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")
