{#- The persona facts as a long table: one row per scored customer and persona attribute
    (persona_attributes()), with the customer's segment and value code. -#}
with

facts as (
    select * from {{ ref('int_customers__persona_facts') }}
),

persona_values as (
    {%- for attribute in persona_attributes() %}
    select
        customer_id,
        segment,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as string) as attribute_value
    from facts
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from persona_values
