{#- Calendar period arithmetic for cohorts, portable (no engine date_diff / months_between). -#}

{#- Months since year 0 of a date: year * 12 + month - 1. -#}
{% macro month_number(date_expr) -%}
    cast(extract(year from {{ date_expr }}) * 12 + extract(month from {{ date_expr }}) - 1 as integer)
{%- endmacro %}

{#- Calendar months between two dates (end - start), ignoring the day of month. -#}
{% macro months_between_dates(start_date, end_date) -%}
    ({{ month_number(end_date) }} - {{ month_number(start_date) }})
{%- endmacro %}

{#- Number of the period (month or quarter) holding a date, counted from year 0. -#}
{% macro period_number(date_expr, grain) -%}
    {%- if grain == 'quarter' -%}
        cast(floor(cast({{ month_number(date_expr) }} as double) / 3.0) as integer)
    {%- else -%}
        {{ month_number(date_expr) }}
    {%- endif -%}
{%- endmacro %}

{#- Whole periods (month or quarter) between the periods holding two dates (end - start). -#}
{% macro periods_between_dates(start_date, end_date, grain) -%}
    ({{ period_number(end_date, grain) }} - {{ period_number(start_date, grain) }})
{%- endmacro %}

{#- First day of the period (month or quarter) holding a date, as a date. -#}
{% macro period_start(date_expr, grain) -%}
    cast({{ dbt.date_trunc(grain, date_expr) }} as date)
{%- endmacro %}

{#- A one-column relation `n` holding the integers 0..999 (cross join of digits), portable.
    Cohorts are at most 999 periods long (83 years of months). -#}
{% macro integers_0_to_999() -%}
    select
        units.digit + 10 * tens.digit + 100 * hundreds.digit as n
    from ({{ _digits() }}) as units
    cross join ({{ _digits() }}) as tens
    cross join ({{ _digits() }}) as hundreds
{%- endmacro %}

{% macro _digits() -%}
    select 0 as digit
    {%- for d in range(1, 10) %} union all select {{ d }} as digit{% endfor %}
{%- endmacro %}
