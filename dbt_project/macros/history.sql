{#- Pairs of consecutive refreshes (from_as_of, to_as_of) in a history relation with an `as_of`
    column: the one definition of "consecutive" shared by segment_transitions and
    customer_segment_changes. -#}
{% macro consecutive_refresh_pairs(history_relation) -%}
    select from_as_of, to_as_of
    from (
        select
            as_of as from_as_of,
            lead(as_of) over (order by as_of) as to_as_of
        from (select distinct as_of from {{ history_relation }}) as refreshes
    ) as refresh_pairs
    where to_as_of is not null
{%- endmacro %}
