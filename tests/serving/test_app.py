"""The contract is documented: every schema has a description and an example, every route says what
its errors look like (one error shape), and FastAPI's default validation error is not advertised."""

from __future__ import annotations

import pytest

from funnelcast.serving.app import create_app
from funnelcast.serving.settings import ServingSettings


@pytest.fixture(scope="module")
def spec():
    return create_app(ServingSettings(rules_only=True)).openapi()


def test_every_schema_has_a_description_and_an_example(spec):
    missing = []
    for name, schema in spec["components"]["schemas"].items():
        props = schema.get("properties", {})
        has_example = bool(schema.get("examples")) or (
            props and all("examples" in p or "example" in p for p in props.values())
        )
        if not schema.get("description") or not has_example:
            missing.append(name)
    assert not missing, f"schemas without a description or an example: {missing}"


def test_routes_document_the_one_error_shape(spec):
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("summary") or op.get("description"), f"{method} {path} undocumented"
            if path.startswith("/v1/") and method == "post":
                for status in ("401", "413", "422"):
                    ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (path, status)


def _models():
    """Every model and typed dict of the API's schemas."""
    import inspect

    from pydantic import BaseModel
    from typing_extensions import is_typeddict

    from funnelcast.serving.schemas import analytics, common, leads, opportunities, ops

    for module in (common, leads, opportunities, analytics, ops):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == module.__name__
                and not name.startswith("_")
                and (issubclass(cls, BaseModel) or is_typeddict(cls))
            ):
                yield cls


@pytest.mark.parametrize("model", list(_models()), ids=lambda m: m.__name__)
def test_schema_examples_are_valid_instances(model):
    from pydantic import BaseModel, TypeAdapter

    config = (
        model.model_config
        if isinstance(model, type) and issubclass(model, BaseModel)
        else model.__pydantic_config__
    )
    examples = (config.get("json_schema_extra") or {}).get("examples", [])
    assert examples, f"{model.__name__} shows no example in the API docs"
    for example in examples:  # an example that does not validate would mislead a CRM developer
        assert TypeAdapter(model).validate_python(example) is not None
