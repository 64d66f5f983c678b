"""What the `keras-ssl` command line knows how to train, by name."""

from keras_ssl.recipes.aet_recipe import AETRecipe
from keras_ssl.recipes.belief_matching_recipe import BeliefMatchingRecipe
from keras_ssl.recipes.ds3l_recipe import DS3LRecipe
from keras_ssl.recipes.duq_recipe import DUQRecipe
from keras_ssl.recipes.flowgmm_recipe import FlowGMMRecipe
from keras_ssl.recipes.generative_recipe import GenerativeRecipe
from keras_ssl.recipes.gram_recipe import GramRecipe
from keras_ssl.recipes.lens_recipe import LensRecipe
from keras_ssl.recipes.moco_recipe import MoCoRecipe
from keras_ssl.recipes.nat_recipe import NATRecipe
from keras_ssl.recipes.ns3l_recipe import NS3LRecipe
from keras_ssl.recipes.pcl_recipe import PCLRecipe
from keras_ssl.recipes.pga_recipe import PGARecipe
from keras_ssl.recipes.recipe import Recipe
from keras_ssl.recipes.representation_recipe import RepresentationRecipe
from keras_ssl.recipes.rotnet_recipe import RotNetRecipe
from keras_ssl.recipes.sdenet_recipe import SDENetRecipe
from keras_ssl.recipes.semi_supervised_recipe import SemiSupervisedRecipe
from keras_ssl.recipes.sla_recipe import SLARecipe
from keras_ssl.recipes.softmax_recipe import SoftmaxRecipe
from keras_ssl.recipes.tsme_recipe import TSMERecipe
from keras_ssl.recipes.uncertainty_recipe import UncertaintyRecipe

RECIPES = {
    recipe.name: recipe
    for recipe in (
        AETRecipe(),
        BeliefMatchingRecipe(),
        DS3LRecipe(),
        DUQRecipe(),
        FlowGMMRecipe(),
        GramRecipe(),
        LensRecipe(),
        MoCoRecipe(),
        NATRecipe(),
        NS3LRecipe(),
        PCLRecipe(),
        PGARecipe(),
        RotNetRecipe(),
        SDENetRecipe(),
        SLARecipe(),
        SoftmaxRecipe(),
        TSMERecipe(),
    )
}


def get_recipe(name):
    """The recipe registered as `name`; a clear error for unknown names."""
    if name not in RECIPES:
        raise ValueError(
            f"unknown method {name!r}; known methods: "
            f"{', '.join(sorted(RECIPES))} (see `keras-ssl list`)"
        )
    return RECIPES[name]


__all__ = [
    "GenerativeRecipe",
    "RECIPES",
    "Recipe",
    "RepresentationRecipe",
    "SemiSupervisedRecipe",
    "UncertaintyRecipe",
    "get_recipe",
]
