"""Experiment trackers as reporters: MLflow, TensorBoard, Weights & Biases.

Each module registers one reporter; its library is an optional extra
(``pip install 'snnbench[mlflow]'``) imported only when a run uses it.
"""
