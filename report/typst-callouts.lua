--[[
Quarto callouts (::: {.callout-warning} ... :::) for the pandoc + Typst fallback, which has
no callouts of its own: each becomes a Typst block with a coloured rule on its left, so that
a section's note (stale results, results made with overrides) stands out in the PDF as it
does in the HTML.  Quarto draws its own callouts and does not run this filter.
]]

if not FORMAT:match("typst") then
  return {}
end

local COLOURS = { ["callout-warning"] = "rgb(\"#b3261e\")", ["callout-note"] = "rgb(\"#d9822b\")" }

function Div(el)
  for _, class in ipairs(el.classes) do
    local colour = COLOURS[class]
    if colour then
      local open = "#block(width: 100%, inset: (left: 8pt, y: 4pt), stroke: (left: 2pt + " .. colour .. "))["
      local blocks = { pandoc.RawBlock("typst", open) }
      for _, block in ipairs(el.content) do
        table.insert(blocks, block)
      end
      table.insert(blocks, pandoc.RawBlock("typst", "]"))
      return blocks
    end
  end
end
