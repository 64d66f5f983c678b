import pytest

from keras_ssl.recipes import get_recipe


@pytest.mark.parametrize("backbone", ["conv_dense", "ds3l_cnn"])
def test_the_family_builds_the_backbone_it_is_given(backbone):
    recipe = get_recipe("ds3l")
    config = recipe.resolve_config({"backbone": backbone}, "digits")
    data = recipe.load_data("digits", config, 0)
    model = recipe.build_model(data, config, steps_per_epoch=7)
    assert model.encoder.name == backbone
    assert model(data["x_test"][:3]).shape == (3, 6)


def test_an_unknown_backbone_names_the_known_ones():
    recipe = get_recipe("tsme")
    config = recipe.resolve_config({"backbone": "vgg"}, "digits")
    data = recipe.load_data("digits", config, 0)
    with pytest.raises(ValueError, match="ds3l_cnn") as error:
        recipe.build_model(data, config, steps_per_epoch=10)
    assert "vgg" in str(error.value)
