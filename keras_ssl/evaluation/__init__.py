"""Evaluation: representation probes, OOD and calibration metrics, plots.

Every function takes NumPy arrays (or anything `np.asarray` accepts) and
returns Python floats, dicts of them, or a `matplotlib.figure.Figure`.
OOD scores follow one direction everywhere: larger = more OOD.
"""

from keras_ssl.evaluation.calibration import brier_score
from keras_ssl.evaluation.calibration import calibration_bins
from keras_ssl.evaluation.calibration import calibration_metrics
from keras_ssl.evaluation.calibration import expected_calibration_error
from keras_ssl.evaluation.calibration import maximum_calibration_error
from keras_ssl.evaluation.calibration import negative_log_likelihood
from keras_ssl.evaluation.certainty_map import certainty_map
from keras_ssl.evaluation.class_scatter import class_scatter
from keras_ssl.evaluation.confusion_matrix_plot import confusion_matrix_plot
from keras_ssl.evaluation.decision_regions import decision_regions
from keras_ssl.evaluation.embedding_map import embedding_map
from keras_ssl.evaluation.encoder_features import encoder_features
from keras_ssl.evaluation.feature_extractor import feature_extractor
from keras_ssl.evaluation.frechet_distance import frechet_distance
from keras_ssl.evaluation.frechet_distance import gaussian_frechet_distance
from keras_ssl.evaluation.generative_metrics import generative_metrics
from keras_ssl.evaluation.image_grids import image_grids
from keras_ssl.evaluation.image_pair_grid import image_pair_grid
from keras_ssl.evaluation.knn_accuracy import knn_accuracy
from keras_ssl.evaluation.layer_deviations import layer_deviations
from keras_ssl.evaluation.learning_curves import learning_curves
from keras_ssl.evaluation.lens_plot import lens_plot
from keras_ssl.evaluation.linear_probe import linear_probe
from keras_ssl.evaluation.ood_histograms import ood_histograms
from keras_ssl.evaluation.ood_metrics import ood_metrics
from keras_ssl.evaluation.predict_in_batches import predict_in_batches
from keras_ssl.evaluation.prediction_scatter import prediction_scatter
from keras_ssl.evaluation.probe_metrics import probe_metrics
from keras_ssl.evaluation.reliability_diagram import reliability_diagram
from keras_ssl.evaluation.run_comparison import RunComparison

__all__ = [
    "brier_score",
    "calibration_bins",
    "calibration_metrics",
    "certainty_map",
    "class_scatter",
    "confusion_matrix_plot",
    "decision_regions",
    "embedding_map",
    "encoder_features",
    "expected_calibration_error",
    "frechet_distance",
    "gaussian_frechet_distance",
    "generative_metrics",
    "image_grids",
    "feature_extractor",
    "image_pair_grid",
    "knn_accuracy",
    "learning_curves",
    "lens_plot",
    "layer_deviations",
    "linear_probe",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "ood_histograms",
    "ood_metrics",
    "predict_in_batches",
    "prediction_scatter",
    "probe_metrics",
    "reliability_diagram",
    "RunComparison",
]
