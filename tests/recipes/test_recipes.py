import keras
import numpy as np
import pytest

from keras_ssl import evaluation
from keras_ssl.recipes import RECIPES
from keras_ssl.recipes import RepresentationRecipe
from keras_ssl.recipes import get_recipe


def _flatten_encoder(units=None, seed=0):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    if units:
        x = keras.layers.Dense(
            units, kernel_initializer=keras.initializers.RandomNormal(seed=seed)
        )(x)
    return keras.Model(inputs, x)


def test_representation_metrics_are_the_probes_of_both_encoders(tmp_path):
    recipe = RepresentationRecipe()
    recipe.name = "probe_test"
    data = recipe.load_data("digits", {"image_size": 8}, seed=0)
    # Any Keras model stands in for a method: the probes read `predict`,
    # which for a method runs its encoder.
    trained = _flatten_encoder()
    random = _flatten_encoder(units=2)
    metrics = recipe.evaluate(
        trained, data, run_dir=str(tmp_path), initial_model=random
    )
    assert set(metrics) == {
        "linear_probe_accuracy",
        "knn_accuracy",
        "random_init_linear_probe_accuracy",
        "random_init_knn_accuracy",
    }
    pixels = data["x_train"].reshape(len(data["x_train"]), -1)
    pixels_test = data["x_test"].reshape(len(data["x_test"]), -1)
    expected = evaluation.linear_probe(
        pixels, data["y_train"], pixels_test, data["y_test"]
    )
    assert metrics["linear_probe_accuracy"] == pytest.approx(expected)
    # Raw pixels separate digits well; a random 2-d projection does not.
    assert metrics["linear_probe_accuracy"] > 0.9
    assert metrics["random_init_linear_probe_accuracy"] < 0.7
    assert (tmp_path / "plots" / "embedding_map.png").stat().st_size > 1000


def test_representation_inputs_carry_the_sample_index():
    recipe = RepresentationRecipe()
    data = recipe.load_data("digits", {"image_size": 8}, seed=0)
    x, index = recipe.fit_inputs(data)
    np.testing.assert_array_equal(index, np.arange(len(x)))
    dataset, steps = recipe.train_dataset(data, 100, 0, 0, 1)
    seen = np.concatenate([i.numpy() for _, i in dataset])
    assert steps == len(seen) // 100 + 1
    np.testing.assert_array_equal(np.sort(seen), np.arange(len(x)))
    images = np.concatenate([b.numpy() for b, _ in dataset.take(1)])
    np.testing.assert_array_equal(images, x[seen[:100]])


def test_a_resumed_epoch_sees_the_same_batches():
    recipe = get_recipe("softmax")
    data = recipe.load_data("two_moons", recipe.defaults, seed=0)
    full, steps = recipe.train_dataset(data, 64, 3, 0, 4)
    tail, tail_steps = recipe.train_dataset(data, 64, 3, 2, 4)
    full_y = [y.numpy() for _, y in full]
    tail_y = [y.numpy() for _, y in tail]
    assert steps == tail_steps
    assert len(full_y) == 4 * steps and len(tail_y) == 2 * steps
    for a, b in zip(full_y[2 * steps :], tail_y, strict=True):
        np.testing.assert_array_equal(a, b)
    # Different epochs are shuffled differently.
    assert not np.array_equal(full_y[0], full_y[steps])


def test_set_values_are_converted_to_the_default_type():
    recipe = get_recipe("softmax")
    config = recipe.resolve_config({"learning_rate": "0.01", "image_size": "8"})
    assert config["learning_rate"] == 0.01 and config["image_size"] == 8
    with pytest.raises(ValueError, match="expected int"):
        recipe.resolve_config({"image_size": "big"})


def test_every_recipe_names_a_documented_method():
    for name, recipe in RECIPES.items():
        assert recipe.name == name
        assert recipe.family and recipe.paper
        assert recipe.method.__doc__ and "Example" in recipe.method.__doc__


def test_dataset_defaults_replace_defaults_for_that_dataset_only():
    class Toy(get_recipe("softmax").__class__):
        dataset_defaults = {"two_moons": {"learning_rate": 0.01}}
        dataset_training = {"two_moons": {"epochs": 30}}

    recipe = Toy()
    assert recipe.resolve_config({}, "two_moons")["learning_rate"] == 0.01
    assert recipe.resolve_config({}, "digits")["learning_rate"] == 1e-3
    config = recipe.resolve_config({"learning_rate": "0.5"}, "two_moons")
    assert config["learning_rate"] == 0.5
    assert recipe.training_defaults("two_moons") == (30, recipe.batch_size)
    assert recipe.training_defaults("digits") == (10, 64)


def test_augmented_batches_are_the_same_after_a_resume():
    recipe = get_recipe("nat")
    config = recipe.resolve_config({}, "digits")
    data = recipe.load_data("digits", config, seed=0)
    full, steps = recipe.train_dataset(data, 500, 3, 0, 3, config)
    tail, _ = recipe.train_dataset(data, 500, 3, 2, 3, config)
    full_x = [x.numpy() for x, _ in full]
    tail_x = [x.numpy() for x, _ in tail]
    for a, b in zip(full_x[2 * steps :], tail_x, strict=True):
        np.testing.assert_array_equal(a, b)
    # The images really are augmented, differently in every epoch.
    first = [i.numpy() for _, i in full][0]
    assert not np.allclose(full_x[0], data["x_train"][first])
    plain, _ = recipe.train_dataset(
        data, 500, 3, 0, 1, {**config, "noise": 0.0, "max_shift": 0}
    )
    x, index = next(iter(plain))
    np.testing.assert_array_equal(x.numpy(), data["x_train"][index.numpy()])


def test_uncertainty_split_follows_in_classes_and_channels():
    recipe = get_recipe("softmax")
    config = recipe.resolve_config(
        {"in_classes": "1,3,5", "channels": "3", "image_size": "8"}, "digits"
    )
    assert config["in_classes"] == (1, 3, 5)
    data = recipe.load_data("digits", config, seed=0)
    assert data["num_classes"] == 3
    assert data["x_train"].shape[1:] == (8, 8, 3)
    assert set(data["ood"]) == {"digits_0_2_4_6_7_8_9", "uniform_noise"}
    assert set(np.unique(data["y_train"])) == {0, 1, 2}
    default = recipe.load_data("digits", recipe.resolve_config({}), seed=0)
    assert set(default["ood"]) == {"digits_5_9", "uniform_noise"}
    for bad in ("3", "1,1,2", "0,1,2,3,4,5,6,7,8,9", "0,12"):
        with pytest.raises(ValueError, match="in_classes"):
            recipe.load_data(
                "digits", recipe.resolve_config({"in_classes": bad}), seed=0
            )


def test_uncertainty_metrics_cover_every_ood_score_and_certainty():
    class TwoScores(get_recipe("softmax").__class__):
        ood_scores = ("ood_score", "negative_margin")

    class Model:
        def classify(self, x):
            total = keras.ops.sum(x, axis=(1, 2, 3))
            return {
                "probs": keras.ops.stack([total * 0 + 0.5] * 2, axis=1),
                "certainty": 1.0 / (1.0 + total),
                "ood_score": -1.0 / (1.0 + total),
                "negative_margin": total,
            }

    recipe = TwoScores()
    data = {
        "x_test": np.zeros((4, 2, 2, 1), "float32"),
        "y_test": np.array([0, 1, 0, 1]),
        "ood": {"bright": np.ones((3, 2, 2, 1), "float32")},
    }
    metrics = recipe.evaluate(Model(), data)
    assert set(metrics["ood_by_score"]) == {"ood_score", "negative_margin"}
    assert metrics["ood"] == metrics["ood_by_score"]["ood_score"]
    assert metrics["ood_by_score"]["negative_margin"]["bright"]["auroc"] == 1
    assert metrics["mean_certainty"] == pytest.approx(
        {"test": 1.0, "bright": 0.2}
    )


def test_the_catalog_lists_every_recipe_as_it_is():
    from keras_ssl.catalog import CATALOG

    assert set(CATALOG) == set(RECIPES)
    for name, (family, paper, datasets) in CATALOG.items():
        recipe = RECIPES[name]
        assert (family, paper, tuple(datasets)) == (
            recipe.family,
            recipe.paper,
            tuple(recipe.datasets),
        ), name


def test_every_uncertainty_recipe_takes_the_protocol_options():
    # `--set in_classes=... / channels=1|3 / image_size=8|16|32` (issue
    # 13): every uncertainty recipe has them, and a bad value is a
    # ValueError naming the key before anything trains.
    names = [n for n, r in RECIPES.items() if r.family == "uncertainty"]
    assert {"duq", "softmax"} <= set(names)
    good = {"in_classes": "2,4,6", "channels": "3", "image_size": "32"}
    for name in names:
        recipe = get_recipe(name)
        config = recipe.resolve_config(good, "digits")
        recipe.check_settings(config)
        assert (config["in_classes"], config["channels"]) == ((2, 4, 6), 3)
        assert config["image_size"] == 32
        for key, bad in (("channels", "2"), ("image_size", "12")):
            with pytest.raises(ValueError, match=f"--set {key}={bad}"):
                recipe.check_settings(recipe.resolve_config({key: bad}))
        with pytest.raises(ValueError, match="in_classes"):
            recipe.load_data(
                "digits", recipe.resolve_config({"in_classes": "7"}), seed=0
            )


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_steps_per_epoch_is_what_the_pipeline_runs(name):
    # `keras_ssl.run.train` builds the method's schedule with
    # `steps_per_epoch` before the pipeline exists (and refuses a run
    # whose pipeline disagrees): count the batches of one epoch.
    recipe = get_recipe(name)
    dataset = recipe.datasets[0]
    config = recipe.resolve_config({}, dataset)
    data = recipe.load_data(dataset, config, 0)
    _, batch_size = recipe.training_defaults(dataset)
    batches, steps = recipe.train_dataset(data, batch_size, 0, 0, 1, config)
    assert steps == recipe.steps_per_epoch(data, batch_size)
    assert sum(1 for _ in batches) == steps


def test_a_schedule_without_an_epoch_length_is_refused_by_name():
    # AET once built its optimizer with 1 step per epoch when none was
    # given, which put the milestones at the wrong steps; now every
    # recipe refuses, naming the setting.
    recipe = get_recipe("aet")
    config = recipe.resolve_config({"lr_milestones": "2"}, "digits")
    data = recipe.load_data("digits", config, 0)
    with pytest.raises(ValueError, match="lr_milestones"):
        recipe.build_model(data, config)
    optimizer = recipe.build_model(data, config, steps_per_epoch=13).optimizer
    rate = optimizer.learning_rate
    assert isinstance(
        optimizer._learning_rate,
        keras.optimizers.schedules.PiecewiseConstantDecay,
    ), rate
    assert list(optimizer._learning_rate.boundaries) == [26]
