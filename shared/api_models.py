"""Answer models the HTTP routes declare (powertools ``responses=``), shared by the functions' resolvers.

They document what a route answers; ``docs/openapi.json`` is generated from the resolvers (``hub openapi``)
and schemathesis checks the running local hub against it. Models allow fields they do not name, so a route
that grows a field stays within its contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, cast

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # a TypedDict: the handlers that answer without powertools' resolver do not import it
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


class OpenModel(BaseModel):
    # Built on first use: most answer models are only read to write the OpenAPI document
    # (``hub openapi``), never in a Lambda, which builds just the ones it validates.
    model_config = ConfigDict(extra="allow", defer_build=True)


class Message(OpenModel):
    """An error or refusal with a sentence (404, 400, 401 from the API's authorizer)."""

    message: str


class FieldProblem(BaseModel):
    model_config = ConfigDict(defer_build=True)

    field: str
    message: str


class FieldErrors(OpenModel):
    """``{"errors": [{"field": ..., "message": ...}]}``: every bad field, and why."""

    errors: list[FieldProblem]


def json_answer(model: type[BaseModel], description: str) -> OpenAPIResponse:
    """One entry of a route's ``responses=``: a JSON body of `model`."""
    return cast(
        "OpenAPIResponse", {"description": description, "content": {"application/json": {"model": model}}}
    )


def text_answer(description: str, media_type: str = "text/plain") -> OpenAPIResponse:
    return cast(
        "OpenAPIResponse",
        {"description": description, "content": {media_type: {"schema": {"type": "string"}}}},
    )


def no_body(description: str) -> OpenAPIResponse:
    return cast("OpenAPIResponse", {"description": description, "content": {}})


Answers: TypeAlias = "dict[int, OpenAPIResponse]"


UNAUTHORIZED = json_answer(Message, "No valid bearer token (the API's JWT authorizer)")
STORE_BUSY = json_answer(Message, "Storage busy or unavailable: retry (Retry-After)")
JWT_SECURITY: list[dict[str, list[str]]] = [{"jwt": []}]


def answer_bad_parameters_with_400(app: Any) -> None:
    """A parameter powertools' validation refuses (a query parameter given twice) answers 400 ``Message``.

    Our routes check what they read themselves and answer ``{"message": ...}`` (or, for bodies, field
    errors); powertools' own 422 shape is not part of our contract, so it never reaches a client."""
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

    def bad_parameters(error: RequestValidationError) -> Response[Any]:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()))
            problems.append(
                f"{where}: {'given more than once' if item.get('type') == 'string_type' else item.get('msg', 'invalid')}"
            )
        return Response(400, "application/json", {"message": "; ".join(problems) or "bad parameters"})

    app.exception_handler(RequestValidationError)(bad_parameters)
