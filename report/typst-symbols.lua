--[[
Typst math that compiles and reads right with Typst 0.14 and 0.15, for both ways the
report is rendered: Quarto runs this filter because report/_quarto.yml lists it, and the
pandoc + Typst fallback (pipeline/report/render.py) passes it with --lua-filter.

Only the Typst output is touched; HTML (MathML) is left exactly as pandoc writes it.

1. Symbol names.  pandoc writes a math symbol by its Typst name (\otimes -> times.circle).
   Typst 0.14 renamed some of those names and deprecated others; 0.15 removed the
   deprecated ones, so the PDF no longer compiles ("unknown symbol modifier").  Each
   math element whose Typst text has such a name is written out here with the new name.
   RENAMED below is every name pandoc 3.9 writes (for any character it knows) that Typst
   0.15 rejects or warns about, found by compiling each of them with Typst 0.15; each new
   name was checked to give the same character (tests/test_typst_symbols.py repeats both
   checks).  Names without a successor in Typst are replaced by the character itself,
   which Typst math accepts as it is.  Older pandoc versions (as bundled with other Quarto
   releases) write a few more of the old names (angle.l, plus.circle); they are listed too.

2. Thousands separators.  A number printed as 4,096 inside math comes out of pandoc as
   `4 \, 096`, which Typst sets as a list ("4, 096").  A comma between digits with three
   digits after it is kept inside the number instead (`4","096`).  A comma followed by a
   space (a list, f(1, 234)) is left alone.
]]

if not FORMAT:match("typst") then
  return {}
end

-- old name -> new name (or the character, where Typst has no name for it any more)
local RENAMED = {
  -- \circle operators became .o (0.14 deprecated, 0.15 removed)
  ["plus.circle"] = "plus.o", ["plus.circle.big"] = "plus.o.big", ["plus.circle.arrow"] = "plus.o.arrow",
  ["minus.circle"] = "minus.o", ["times.circle"] = "times.o", ["times.circle.big"] = "times.o.big",
  ["dot.circle"] = "dot.o", ["dot.circle.big"] = "dot.o.big", ["div.circle"] = "div.o",
  ["eq.circle"] = "eq.o", ["dash.circle"] = "dash.o", ["bar.v.circle"] = "bar.v.o",
  ["parallel.circle"] = "parallel.o", ["backslash.circle"] = "backslash.o", ["perp.circle"] = "perp.o",
  ["lt.circle"] = "lt.o", ["gt.circle"] = "gt.o",
  -- sect (intersection) became inter
  ["sect"] = "inter", ["sect.sq"] = "inter.sq", ["sect.big"] = "inter.big", ["sect.double"] = "inter.double",
  ["sect.sq.big"] = "inter.sq.big", ["sect.dot"] = "inter.dot", ["sect.and"] = "inter.and",
  ["sect.sq.double"] = "inter.sq.double", ["integral.sect"] = "integral.inter",
  -- angle brackets became chevrons
  ["angle.l"] = "chevron.l", ["angle.r"] = "chevron.r",
  ["quote.angle.l.double"] = "quote.chevron.l.double", ["quote.angle.r.double"] = "quote.chevron.r.double",
  ["quote.angle.l.single"] = "quote.chevron.l.single", ["quote.angle.r.single"] = "quote.chevron.r.single",
  -- double (white) brackets became stroked
  ["bracket.l.double"] = "bracket.l.stroked", ["bracket.r.double"] = "bracket.r.stroked",
  ["brace.l.double"] = "brace.l.stroked", ["brace.r.double"] = "brace.r.stroked",
  ["paren.l.double"] = "paren.l.stroked", ["paren.r.double"] = "paren.r.stroked",
  ["shell.l.double"] = "shell.l.stroked", ["shell.r.double"] = "shell.r.stroked",
  -- angles
  ["angle.right.sq"] = "angle.right.square", ["angle.spheric.top"] = "angle.spheric.t",
  ["angle.oblique"] = "angle.obtuse",
  -- ħ is planck now
  ["planck.reduce"] = "planck",
  -- deprecated in 0.15 (a warning now, an error in the next release)
  ["lt.tri"] = "lt.closed", ["gt.tri"] = "gt.closed", ["lt.tri.eq"] = "lt.closed.eq",
  ["gt.tri.eq"] = "gt.closed.eq", ["lt.tri.not"] = "lt.closed.not", ["gt.tri.not"] = "gt.closed.not",
  ["lt.tri.eq.not"] = "lt.closed.eq.not", ["gt.tri.eq.not"] = "gt.closed.eq.not",
  ["tack.r.double"] = "tack.rr", ["tack.r.double.not"] = "tack.rr.not", ["tack.l.double"] = "tack.ll",
  ["tack.b.double"] = "tack.bb", ["tack.t.double"] = "tack.tt",
  ["join"] = "bowtie.big", ["join.l"] = "bowtie.big.l", ["join.r"] = "bowtie.big.r",
  ["join.l.r"] = "bowtie.big.l.r",
  -- removed without a successor: the character itself
  ["kai"] = "ϗ", ["Kai"] = "Ϗ", ["franc"] = "₣",
  ["ast.small"] = "﹡", ["plus.small"] = "﹢", ["lt.small"] = "﹤", ["gt.small"] = "﹥", ["eq.small"] = "﹦",
}

-- Replace every whole symbol name (letters and dots) in a piece of Typst math outside strings.
local function rename_names(code)
  return (code:gsub("()([%a][%a%.]*%a)()", function(_, name)
    return RENAMED[name]
  end))
end

-- Apply ``fix`` to the parts of Typst math code outside "string literals".
local function outside_strings(code, fix)
  local out, pos = {}, 1
  while true do
    local start = code:find('"', pos, true)
    if not start then
      table.insert(out, fix(code:sub(pos)))
      break
    end
    table.insert(out, fix(code:sub(pos, start - 1)))
    local stop = start + 1
    while stop <= #code do
      local c = code:sub(stop, stop)
      if c == "\\" then
        stop = stop + 2
      elseif c == '"' then
        break
      else
        stop = stop + 1
      end
    end
    table.insert(out, code:sub(start, stop))
    pos = stop + 1
  end
  return table.concat(out)
end

-- 4,096 in TeX: mark the separator so that it can be told apart from a list's comma.
local function mark_separators(tex)
  local previous
  repeat
    previous = tex
    tex = tex:gsub("(%d),(%d%d%d)", "%1\\text{,}%2")
  until tex == previous
  return tex
end

-- pandoc writes \text{,} as upright(","); inside a number it must touch its digits.
local function join_separators(code)
  local previous
  repeat
    previous = code
    code = code:gsub('(%d) upright%(","%) (%d)', '%1","%2')
  until code == previous
  return code
end

local function typst_math(mathtype, tex)
  local doc = pandoc.Pandoc({ pandoc.Plain({ pandoc.Math(mathtype, tex) }) })
  local code = pandoc.write(doc, "typst", { wrap_text = "wrap-none" })
  return (code:gsub("%s+$", ""))
end

function Math(el)
  local marked = mark_separators(el.text)
  local code = typst_math(el.mathtype, marked)
  local fixed = join_separators(outside_strings(code, rename_names))
  if marked == el.text and fixed == code then
    return nil -- nothing to change: pandoc writes it as it would have
  end
  return pandoc.RawInline("typst", fixed)
end
