{#- Fails for every non-null value of `column_name` outside [min_value, max_value] (either bound
    may be omitted). Ranges of shares, rates, ranks and counts in the marts. -#}
-- The jinja `if`s inside the condition defeat sqlfluff's indent check: -- noqa: disable=LT02
{% test value_between(model, column_name, min_value=none, max_value=none) %}

with

model_rows as (
    select * from {{ model }}
),

out_of_range as (
    select {{ column_name }} as value
    from model_rows
    where
        {{ column_name }} is not null
        and (
            false
            {%- if min_value is not none %}
            or {{ column_name }} < {{ min_value }}
            {%- endif %}
            {%- if max_value is not none %}
            or {{ column_name }} > {{ max_value }}
            {%- endif %}
        )
)

select * from out_of_range

{% endtest %}
