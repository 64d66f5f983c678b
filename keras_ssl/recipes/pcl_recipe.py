import os

import numpy as np

from keras_ssl import backbones
from keras_ssl import evaluation
from keras_ssl.recipes.moco_recipe import MoCoRecipe
from keras_ssl.representation.pcl import PCL


class PCLRecipe(MoCoRecipe):
    """`keras-ssl train pcl`: Prototypical Contrastive Learning on digits.

    MoCo's digits settings (`keras-ssl train moco`, the control) plus the
    E-step: 3 clusterings with k = 120, 160, 240, 20 negative prototypes
    each, and 5 warm-up epochs of InfoNCE only (the note's 5-10% of the
    epochs is 2-4 of 40; 5 is the note's experiment). The note's
    experiment clustered 10 digit classes into 20/40/80, but the official
    negative sampling needs every k to be at least the negatives plus the
    batch (100): with 1,257 images that means over-clustering, as the PCL
    author recommends for CIFAR-10 (100 < k < 1000); faiss prints a
    harmless "please provide at least k * 10 training points" warning for
    k > 125 (its `min_points_per_centroid` is the official 10). faiss runs
    on one thread (`kmeans_threads`), which is 10x faster than two on 2
    busy cores for so few points.

    Metrics besides the representation probes:
        - `proto_accuracy`: Acc@Proto of the final model over all
          prototypes: on the un-augmented training images, the share of
          queries whose highest prototype logit `q . c / phi_c` (over all
          k) is their own cluster's, mean over the clusterings. (The
          training logs' `proto_accuracy` is the official Acc@Proto over
          the batch's prototypes and the sampled negatives.)
        - `cluster_ami`: adjusted mutual information between the last
          E-step's cluster assignments and the digit labels, per k
          (scikit-learn), the paper's measure of cluster quality.
    Both are left out if no E-step ran (`epochs <= warmup_epochs`).

    Plots: the PCA map of the training images' momentum embeddings (the
    space the E-step clusters) coloured by cluster (smallest k,
    `cluster_map.png`) and the same points coloured by label
    (`cluster_label_map.png`), besides the test embedding map.
    """

    name = "pcl"
    method = PCL
    settings = {
        **MoCoRecipe.settings,
        "num_clusters": (120, 160, 240),
        "num_negative_prototypes": 20,
        "warmup_epochs": 5,
        "kmeans_threads": 1,
    }

    def model_inputs(self, data, config):
        return {
            "encoder": backbones.small_cnn(
                data["input_shape"], preset=config["width"]
            ),
            "num_samples": len(data["x_train"]),
        }

    def build_model(self, data, config, steps_per_epoch=None):
        model = super().build_model(data, config, steps_per_epoch)
        model.set_cluster_data(data["x_train"])
        return model

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        metrics = super().evaluate(model, data, run_dir, initial_model)
        if int(model.clustered_epoch) < 0:
            return metrics
        from sklearn.metrics import adjusted_mutual_info_score

        queries = evaluation.predict_in_batches(
            lambda x: {"q": model.project(x)}, data["x_train"]
        )["q"]
        hits, ami = [], {}
        for m, k in enumerate(model.num_clusters):
            assignments = np.asarray(model.assignments[m])
            logits = queries @ np.asarray(model.prototypes[m]).T
            logits /= np.asarray(model.concentrations[m])[None, :]
            hits.append(np.mean(np.argmax(logits, axis=1) == assignments))
            ami[str(k)] = float(
                adjusted_mutual_info_score(data["y_train"], assignments)
            )
        metrics["proto_accuracy"] = float(np.mean(hits))
        metrics["cluster_ami"] = ami
        if run_dir is not None:
            plots = os.path.join(run_dir, "plots")
            # The space k-means clustered: the momentum embeddings.
            features = model.momentum_features(data["x_train"])
            k = model.num_clusters[0]
            for name, colours, what in (
                ("cluster_map", model.assignments[0], f"cluster (k = {k})"),
                ("cluster_label_map", data["y_train"], "label"),
            ):
                evaluation.embedding_map(
                    features,
                    np.asarray(colours),
                    path=os.path.join(plots, f"{name}.png"),
                    title=f"{self.name}: momentum embeddings by {what}",
                )
        return metrics
