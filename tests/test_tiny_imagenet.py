"""Tiny-ImageNet from a fake copy of the standard layout, and the ResNet-19 variant ND compares on."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from revsnn_jax import cli, data, nn, train
from revsnn_jax.data import cache as prepared, tiny_imagenet
from revsnn_jax.errors import InputError
from fake_raw import TINY_IMAGENET_WNIDS as WNIDS, write_tiny_imagenet

def test_files_labels_and_the_cache_hold_the_decoded_images(tmp_path):
    base = write_tiny_imagenet(str(tmp_path / "raw"))
    wnids, split = tiny_imagenet.files(str(tmp_path / "raw"))   # the parent folder works too
    assert wnids == sorted(WNIDS)
    assert [y for _, y in split["train"]] == [0] * 3 + [1] * 3 + [2] * 3
    assert [os.path.basename(p) for p, _ in split["train"][:3]] == [f"n01443537_{i}.JPEG" for i in range(3)]
    assert [(os.path.basename(p), y) for p, y in split["test"]] == [
        ("val_0.JPEG", 1), ("val_1.JPEG", 0), ("val_2.JPEG", 2), ("val_3.JPEG", 1), ("val_4.JPEG", 0)]
    grey = tiny_imagenet.read_image(os.path.join(base, "train", "n01443537", "images", "n01443537_0.JPEG"))
    assert grey.shape == (64, 64, 3) and np.array_equal(grey[..., 0], grey[..., 2])
    root = tiny_imagenet.prepare(base, str(tmp_path / "cache"), progress=False, say=lambda m: None)
    settings, splits = prepared.read(root)
    assert settings["sizes"] == {"train": 9, "test": 5} and settings["num_classes"] == 3
    for name in ("train", "test"):
        x, y = splits[name]
        assert x.dtype == np.uint8 and y.tolist() == [label for _, label in split[name]]
        for (path, _), got in zip(split[name], x):
            with Image.open(path) as image:
                np.testing.assert_array_equal(got, np.asarray(image.convert("RGB")))


def test_bad_copies_are_one_line_errors_naming_the_file(tmp_path):
    base = write_tiny_imagenet(str(tmp_path / "raw"))
    with pytest.raises(InputError, match="no wnids.txt"):
        tiny_imagenet.files(str(tmp_path))
    annotations = os.path.join(base, "val", "val_annotations.txt")
    text = open(annotations).read()
    with open(annotations, "w") as f:
        f.write(text + "val_9.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(InputError, match=r"val_annotations.txt:6: wnid 'n99999999' is not in wnids.txt"):
        tiny_imagenet.files(base)
    os.remove(annotations)
    with pytest.raises(InputError, match="val_annotations.txt: missing"):
        tiny_imagenet.files(base)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(str(tmp_path / "small.JPEG"))
    with pytest.raises(InputError, match="small.JPEG: 32x32 pixels, Tiny-ImageNet images are 64x64"):
        tiny_imagenet.read_image(str(tmp_path / "small.JPEG"))
    (tmp_path / "broken.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="broken.JPEG: cannot be read as an image"):
        tiny_imagenet.read_image(str(tmp_path / "broken.JPEG"))


def test_prepare_and_train_through_the_cli(tmp_path, capsys):
    base = write_tiny_imagenet(str(tmp_path / "raw"), per_class=4)
    cache = str(tmp_path / "cache")
    assert cli.main(["prepare", "tiny_imagenet", "--raw", base, "--data-dir", cache, "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sizes"] == {"train": 12, "test": 5} and report["disk_bytes"] == 17 * 64 * 64 * 3
    ds = data.load("tiny_imagenet", cache)
    batch = ds.train_images[np.arange(4)]
    assert batch.dtype == np.float32 and batch.shape == (4, 64, 64, 3)
    # normalised with the training set's per-channel statistics
    raw = np.asarray(prepared.read(tiny_imagenet.cache_dir(cache))[1]["train"][0], np.float64) / 255
    mean, std = raw.mean((0, 1, 2)), raw.std((0, 1, 2))
    np.testing.assert_allclose(batch, (raw[:4] - mean) / std, atol=1e-5)
    assert cli.main(["train", "--dataset", "tiny_imagenet", "--data-dir", cache, "--model", "vgg_tiny",
                     "--epochs", "1", "--batch-size", "4", "--timesteps", "2", "--no-progress", "--json",
                     "--workdir", str(tmp_path / "run")]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
    with pytest.raises(InputError, match="prepare it with `revsnn prepare tiny_imagenet"):
        data.load("tiny_imagenet", str(tmp_path / "empty"))


def test_resnet19_nd_is_the_lottery_ticket_layout():
    model = nn.create_model("resnet19_nd", num_classes=200, in_channels=3)
    assert model.stem_conv.kernel[...].shape == (3, 3, 3, 64)
    assert [b.conv1.strides for b in model.blocks] == [2, 1, 1, 2, 1, 1, 2, 1]
    assert [b.conv2.kernel[...].shape[-1] for b in model.blocks] == [128] * 3 + [256] * 3 + [512] * 2
    assert model.hidden.kernel[...].shape == (512, 256) and model.head.kernel[...].shape == (256, 200)
    assert model.downsample == 8


@pytest.mark.slow   # 17 s; exact network gradients: test_nn.py
def test_a_resnet_with_a_spiking_hidden_layer_has_exact_gradients():
    """The same options as resnet19_nd at a size that compiles in seconds."""
    from flax import nnx
    from revsnn_jax.nn.resnet import BasicBlock, SpikingResNet
    model = SpikingResNet(BasicBlock, (1, 1), (8, 16), num_classes=5, stem_width=4, strides=(2, 2), hidden=6,
                          rngs=nnx.Rngs(0))
    graphdef, params, batch_stats = nn.split(model)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
    labels = jnp.asarray([3, 1, 0, 4])

    def grads(strategy):
        return train.loss_and_grads(graphdef, params, batch_stats, x, labels, timesteps=3, strategy=strategy)[1]

    ref = grads("bptt")
    for a, r in zip(jax.tree.leaves(grads("inverse_grad")), jax.tree.leaves(ref)):
        assert float(jnp.linalg.norm(a - r)) <= 1e-5 * float(jnp.linalg.norm(r)) + 1e-12
    assert float(jnp.linalg.norm(ref["hidden"]["kernel"][...])) > 0
    with pytest.raises(InputError, match="strides .* must have the same length"):
        SpikingResNet(BasicBlock, (1, 1), (8, 16), strides=(2,), rngs=nnx.Rngs(0))
