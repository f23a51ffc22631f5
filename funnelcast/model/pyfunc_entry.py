"""The pyfunc model as code (MLflow's models-from-code): training logs this file, and MLflow runs it
to build the model when loading, so nothing executable is pickled into the registry (the bundle and
configuration are plain artifacts)."""

from mlflow.models import set_model

from funnelcast.model.pyfunc import FunnelcastPyfunc

set_model(FunnelcastPyfunc())
