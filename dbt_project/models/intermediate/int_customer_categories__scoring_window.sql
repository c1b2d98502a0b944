{#- Revenue and quantity per customer and category of the order lines customers kept in the
    scoring window (lines without category in one row, category null). Written once for its
    three readers, which each joined the 17M kept lines again at 10M orders: customer_preferences
    (favourite category), segment_star_products (category level) and the behaviour clusters
    (category mix, pipeline/predictions/assets.py). -#}
with

kept_lines as (
    select * from {{ ref('int_order_lines__scoring_window') }}
),

customer_categories as (
    select
        customer_id,
        category,
        cast(sum(line_amount) as decimal(18, 2)) as revenue,
        sum(quantity) as quantity
    from kept_lines
    group by customer_id, category
)

select * from customer_categories
