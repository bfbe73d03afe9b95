"""The HTTP API's answers as perfbot reads them, checked at the boundary: anything else (a
login page, a value that is not a number, a matrix where a vector belongs, no ``data``) is
refused here with where it went wrong, instead of failing somewhere in the analytics.

The samples stay plain dicts and tuples (``TypedDict``): a range answer may hold millions
of points, and the checks run in pydantic's core without an object per point.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict

# [unix time, value]; Prometheus writes the value as a string ("1.5", "NaN", "+Inf").
Point = tuple[float, float]


class Sample(TypedDict):
    metric: dict[str, str]
    value: Point


class Series(TypedDict):
    metric: dict[str, str]
    values: list[Point]


class Matrix(BaseModel):
    result_type: Literal["matrix"] = Field(alias="resultType")
    result: list[Series]


class Vector(BaseModel):
    result_type: Literal["vector"] = Field(alias="resultType")
    result: list[Sample]


class Scalar(BaseModel):
    result_type: Literal["scalar"] = Field(alias="resultType")
    result: Point


class Text(BaseModel):
    result_type: Literal["string"] = Field(alias="resultType")
    result: Any


class BuildInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str = ""


D = TypeVar("D")


class ApiAnswer(BaseModel, Generic[D]):
    """``{"status": "success", "data": ...}``, the envelope of every successful answer."""

    status: Literal["success"]
    data: D


Instant = Annotated[Vector | Scalar | Matrix | Text, Field(discriminator="result_type")]
MatrixAnswer = ApiAnswer[Matrix]
InstantAnswer = ApiAnswer[Instant]
SeriesAnswer = ApiAnswer[list[dict[str, str]]]
NamesAnswer = ApiAnswer[list[str]]
BuildInfoAnswer = ApiAnswer[BuildInfo]


def first_problem(error: ValidationError) -> str:
    """Where the answer first differs from the API's form, without quoting it."""
    problem = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "the answer"
    return f"{where}: {problem['msg']}"
