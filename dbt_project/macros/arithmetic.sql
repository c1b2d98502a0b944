{#- `numerator / denominator` as a double, NULL when the denominator is 0 or NULL: the one way
    the marts divide (doubles on both sides, so DuckDB and Spark agree; see docs/spark.md). -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / cast(nullif({{ denominator }}, 0) as double)
{%- endmacro %}

{#- Median of a numeric expression in an aggregation (interpolated, the same on both engines). -#}
{% macro median_of(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
