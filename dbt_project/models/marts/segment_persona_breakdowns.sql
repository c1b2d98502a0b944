{#- Persona breakdowns as a long table: per segment (and overall), attribute and value, the
    customers with that value and their share of the segment, the value's share among all
    scored customers and the ratio of the two (index: above 1 = over-represented).

    Small cells never identify a person: values held by fewer than var persona_min_customers
    customers of a segment are merged into the value 'other_values' (merged_values says how
    many), and an 'other_values' cell still below the threshold keeps no count (customers,
    shares and index null, is_suppressed true). A segment smaller than the threshold therefore
    shows no count at all. -#}
with

persona_values as (
    select * from {{ ref('int_customers__persona_values') }}
),

segment_cells as (
    select
        segment as persona_segment,
        attribute,
        attribute_value,
        count(*) as customers
    from persona_values
    group by segment, attribute, attribute_value
),

{# Segments partition the scored customers: the overall counts are the segments' sums. -#}
raw_cells as (
    select * from segment_cells
    union all
    select
        {{ overall_label() }} as persona_segment,
        attribute,
        attribute_value,
        sum(customers) as customers
    from segment_cells
    group by attribute, attribute_value
),

{# Cells under the threshold become 'other_values' (with the number of values merged). -#}
merged_cells as (
    select
        persona_segment,
        attribute,
        case
            when customers < {{ persona_min_customers() }} then 'other_values'
            else attribute_value
        end as attribute_value,
        sum(customers) as customers,
        sum(case when customers < {{ persona_min_customers() }} then 1 else 0 end)
            as merged_values
    from raw_cells
    group by
        persona_segment,
        attribute,
        case
            when customers < {{ persona_min_customers() }} then 'other_values'
            else attribute_value
        end
),

{# Every customer has one value per attribute: a segment's size is the sum of the cells of
    any attribute (the largest sum, should one be missing). -#}
attribute_totals as (
    select persona_segment, attribute, sum(customers) as customers
    from raw_cells
    group by persona_segment, attribute
),

segment_sizes as (
    select persona_segment, max(customers) as segment_customers
    from attribute_totals
    group by persona_segment
),

published_cells as (
    select
        merged_cells.persona_segment,
        merged_cells.attribute,
        merged_cells.attribute_value,
        merged_cells.merged_values,
        merged_cells.customers < {{ persona_min_customers() }} as is_suppressed,
        case
            when merged_cells.customers >= {{ persona_min_customers() }}
                then merged_cells.customers
        end as customers,
        segment_sizes.segment_customers
    from merged_cells
    inner join segment_sizes
        on merged_cells.persona_segment = segment_sizes.persona_segment
),

breakdowns as (
    select
        {{ as_of_date() }} as as_of,
        cast(published_cells.persona_segment as string) as segment,
        cast(published_cells.attribute as string) as attribute,
        cast(published_cells.attribute_value as string) as value,
        cast(row_number() over (
            partition by published_cells.persona_segment, published_cells.attribute
            order by
                published_cells.is_suppressed asc,
                published_cells.customers desc,
                published_cells.attribute_value asc
        ) as integer) as value_rank,
        cast(published_cells.customers as integer) as customers,
        {{ safe_divide('published_cells.customers', 'published_cells.segment_customers') }}
            as share,
        {{ safe_divide('overall_cells.customers', 'overall_cells.segment_customers') }}
            as overall_share,
        {{ safe_divide(
            safe_divide('published_cells.customers', 'published_cells.segment_customers'),
            safe_divide('overall_cells.customers', 'overall_cells.segment_customers')) }}
            as index_vs_overall,
        cast(published_cells.merged_values as integer) as merged_values,
        published_cells.is_suppressed
    from published_cells
    left join published_cells as overall_cells
        on
            published_cells.attribute = overall_cells.attribute
            and published_cells.attribute_value = overall_cells.attribute_value
            and overall_cells.persona_segment = {{ overall_label() }}
            {#- 'other_values' mixes different values in each segment: nothing to compare it
                with. #}
            and overall_cells.attribute_value <> 'other_values'
)

select * from breakdowns
