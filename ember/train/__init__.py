"""Training: the Trainer loop, metrics, callbacks and plots."""
from ember.train.callbacks import (Callback, CSVLogger, EarlyStopping, JSONLLogger,
                                   ModelCheckpoint, TensorBoardLogger)
from ember.train.metrics import (RunningAverage, accuracy, confusion_matrix,
                                 multilabel_precision_recall_f1, precision_recall_f1,
                                 top_k_accuracy)
from ember.train.trainer import NonFiniteLossError, Trainer
