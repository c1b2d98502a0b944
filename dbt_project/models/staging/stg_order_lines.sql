with

order_lines as (
    select * from {{ source('clean', 'order_lines') }}
),

renamed as (
    select
        order_id,
        line_number,
        product_id,
        nullif(trim(category), '') as category,
        quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(quantity * unit_price as decimal(18, 2)) as line_amount
    from order_lines
)

select * from renamed
