{#- Staging's one join: the rows of the CTE `relation` re-keyed to the master customer.
    `customer_id` becomes the identity map's master id (the source id when the map does not know
    it: orders of a customer created after identity resolution still count); the exported id
    stays in `source_customer_id`. The calling model imports the map as the CTE `identity_map`.
    `key_columns` come first, then the two customer columns, then `columns` (SQL expressions
    over `relation`, with their aliases). -#}
{% macro rekeyed_to_master(relation, key_columns, columns) -%}
    select
        {%- for column in key_columns %}
        {{ relation }}.{{ column }},
        {%- endfor %}
        {{ relation }}.customer_id as source_customer_id,
        coalesce(identity_map.customer_id, {{ relation }}.customer_id) as customer_id
        {%- for column in columns %},
        {{ column }}
        {%- endfor %}
    from {{ relation }}
    left join identity_map
        on {{ relation }}.customer_id = identity_map.source_customer_id
{%- endmacro %}
