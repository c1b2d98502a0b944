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


{#- The rows of the earlier refresh of each consecutive pair, keyed by the master id each
    customer has at the later refresh: a customer merged into another in between is followed
    through identity's master_id_successors instead of looking churned. When several earlier
    rows now belong to one master, they become one row: the segment and scores of the row that
    kept its id (else the one with the highest monetary value, then the smallest id) and the
    monetary value of all of them (the same person's spend, split across two records before). -#}
{% macro earlier_refresh_rows_followed(history_relation, pairs_relation, successors_relation) -%}
    select
        from_as_of,
        to_as_of,
        customer_id,
        segment,
        rfm_code,
        monetary
    from (
        select
            followed.from_as_of,
            followed.to_as_of,
            followed.customer_id,
            followed.segment,
            followed.rfm_code,
            sum(followed.monetary) over (
                partition by followed.from_as_of, followed.to_as_of, followed.customer_id
            ) as monetary,
            row_number() over (
                partition by followed.from_as_of, followed.to_as_of, followed.customer_id
                order by
                    case when followed.original_id = followed.customer_id then 0 else 1 end,
                    followed.monetary desc,
                    followed.original_id
            ) as keep_rank
        from (
            select
                pairs.from_as_of,
                pairs.to_as_of,
                earlier.customer_id as original_id,
                coalesce(latest.surviving_id, earlier.customer_id) as customer_id,
                earlier.segment,
                earlier.rfm_code,
                earlier.monetary
            from {{ pairs_relation }} as pairs
            inner join {{ history_relation }} as earlier
                on pairs.from_as_of = earlier.as_of
            left join (
                select
                    pairs_for_successor.to_as_of,
                    successor.retired_id,
                    successor.surviving_id,
                    row_number() over (
                        partition by pairs_for_successor.to_as_of, successor.retired_id
                        order by successor.as_of desc
                    ) as recency_rank
                from {{ pairs_relation }} as pairs_for_successor
                inner join {{ successors_relation }} as successor
                    on successor.as_of <= pairs_for_successor.to_as_of
            ) as latest
                on
                    latest.to_as_of = pairs.to_as_of
                    and latest.retired_id = earlier.customer_id
                    and latest.recency_rank = 1
        ) as followed
    ) as ranked
    where keep_rank = 1
{%- endmacro %}
