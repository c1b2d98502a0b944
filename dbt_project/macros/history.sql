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


{#- Consecutive refresh pairs with the number of identity merges each one follows: the rows of
    master_id_successors dated up to its later refresh. Identity only ever adds successor rows,
    so a pair whose count moved was computed before a merge it must now follow. -#}
{% macro refresh_pairs_with_merges(history_relation, successors_relation) -%}
    select
        pairs.from_as_of,
        pairs.to_as_of,
        cast(count(successor.retired_id) as bigint) as merges_followed
    from ({{ consecutive_refresh_pairs(history_relation) }}) as pairs
    left join {{ successors_relation }} as successor
        on successor.as_of <= pairs.to_as_of
    group by pairs.from_as_of, pairs.to_as_of
{%- endmacro %}


{#- The pairs a run of segment_transitions / customer_segment_changes computes: every pair on a
    first build, else the pairs the table does not hold (new refreshes; pairs the pre-hook
    deleted). A pair without rows (no customer changed segment) is simply computed again. -#}
{% macro refresh_pairs_to_build(pairs_relation) -%}
    select pairs.from_as_of, pairs.to_as_of, pairs.merges_followed
    from {{ pairs_relation }} as pairs
    {%- if is_incremental() %}
    where not exists (
        select 1
        from {{ this }} as built
        where built.from_as_of = pairs.from_as_of and built.to_as_of = pairs.to_as_of
    )
    {%- endif %}
{%- endmacro %}


{#- The history rows of the refreshes of the pairs a run computes: the joins of the pair tables
    then read one refresh's rows per side, not the whole history. -#}
{% macro refresh_pair_rows(history_relation, pairs_relation) -%}
    select history_rows.*
    from {{ history_relation }} as history_rows
    where history_rows.as_of in (
        select pairs.from_as_of from {{ pairs_relation }} as pairs
        union all
        select pairs.to_as_of from {{ pairs_relation }} as pairs
    )
{%- endmacro %}


{#- Pre-hook of the pair tables on an incremental run: delete the pairs that are no longer
    right, so that refresh_pairs_to_build computes them again. A pair is stale when
    * it touches this run's as-of date or a later one: this run replaced its as-of's rows of
      segment_history, and identity merges dated this as-of apply to every pair ending on or
      after it (a past as-of run rebuilds everything after it);
    * it is no longer a pair of consecutive refreshes (a refresh came between, or left);
    * it follows fewer merges than master_id_successors now dates up to its later refresh (a
      refresh that failed after identity recorded merges into an already computed pair).
    A table built before merges_followed existed gets the column and is emptied: rebuilt once
    in full. -#}
{% macro delete_stale_refresh_pairs() -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif 'merges_followed' not in adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {#- Added here, not by on_schema_change: DuckDB refuses to commit a transaction that
            deletes rows of a table and alters it. -#}
        alter table {{ this }} add column merges_followed bigint;
        delete from {{ this }}
    {%- else -%}
        delete from {{ this }} as built
        where
            built.to_as_of >= {{ as_of_date() }}
            or not exists (
                select 1
                from ({{ refresh_pairs_with_merges(ref('segment_history'), ref('stg_master_id_successors')) }}) as current_pairs
                where
                    current_pairs.from_as_of = built.from_as_of
                    and current_pairs.to_as_of = built.to_as_of
                    and current_pairs.merges_followed = built.merges_followed
            )
    {%- endif -%}
{%- endmacro %}


{#- The `where` of a data test, with `__run_as_of__` replaced by the run's as-of date: the history
    tests of a refresh check the slice it wrote, not every slice again (each was tested when its
    own refresh wrote it; the history only grows). dbt renders a test's `where` when it parses
    the YAML, before the run's settings exist, hence the placeholder, replaced here at run time.
    Without a run as-of (dbt by hand with the default var), the filter is dropped: the whole
    table is tested. Any other `where` is applied as dbt does. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__run_as_of__' in where -%}
        {%- if run_var('as_of') -%}
            {%- set where = where | replace('__run_as_of__', as_of_date()) -%}
        {%- else -%}
            {%- set where = '' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
