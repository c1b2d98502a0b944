{#- The column rules of one model in one pass over it: `not_null` (a list of columns) and
    `between` ({column: {min_value:, max_value:}}, either bound optional, nulls ignored).

    One test per model instead of one per column and rule: each test is a node with its own
    query, and the rules of a model read it once instead of once per column (a staging view is
    its whole query again). A failing run returns one row per broken rule: column_name, rule
    and failing_rows, which `dbt build` prints and `--store-failures` keeps. -#}
-- The jinja loops inside the selects defeat sqlfluff's indent check: -- noqa: disable=LT02
{% test column_rules(model, not_null=[], between={}) %}

{%- set rules = [] -%}
{%- for column in not_null -%}
    {%- do rules.append((column, 'not_null', column ~ ' is null')) -%}
{%- endfor -%}
{%- for column, bounds in between.items() -%}
    {%- set outside = [] -%}
    {%- if bounds.get('min_value') is not none -%}
        {%- do outside.append(column ~ ' < ' ~ bounds['min_value']) -%}
    {%- endif -%}
    {%- if bounds.get('max_value') is not none -%}
        {%- do outside.append(column ~ ' > ' ~ bounds['max_value']) -%}
    {%- endif -%}
    {%- set rule = 'between ' ~ bounds.get('min_value', '') ~ ' and ' ~ bounds.get('max_value', '') -%}
    {%- do rules.append((column, rule, '(' ~ outside | join(' or ') ~ ')')) -%}
{%- endfor %}

with

model_rows as (
    select * from {{ model }}
),

counts as (
    select
        {%- for column, rule, condition in rules %}
        sum(case when {{ condition }} then 1 else 0 end) as rule_{{ loop.index }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from model_rows
),

broken_rules as (
    {%- for column, rule, condition in rules %}
    select
        '{{ column }}' as column_name,
        '{{ rule }}' as rule,
        rule_{{ loop.index }} as failing_rows
    from counts
    where rule_{{ loop.index }} > 0
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from broken_rules

{% endtest %}
