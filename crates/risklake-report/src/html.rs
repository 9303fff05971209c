//! HTML building blocks.

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.meta{color:#5b6475;font-size:13px;margin-bottom:16px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{border-bottom:1px solid #e3e6ec;padding:4px 10px;text-align:right;white-space:nowrap}
th{background:#f4f6f9;cursor:pointer;user-select:none;position:sticky;top:0}
td.l,th.l{text-align:left}
tr:hover td{background:#f8fafc}
.feature{border-top:2px solid #e3e6ec;padding-top:6px}
.flex{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.note{color:#5b6475;font-size:12px}
"#;

const SORT_JS: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0],rows=Array.from(body.rows),asc=th.dataset.dir!=='asc';
      rows.sort(function(a,b){
        var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
        return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});
      t.querySelectorAll('th').forEach(function(h){h.dataset.dir='';});
      th.dataset.dir=asc?'asc':'desc';
    });
  });
});
"#;

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n<script>{SORT_JS}</script>\n</body></html>\n",
        esc(title)
    )
}

/// A table cell: numbers right-aligned and sortable by value, text left-aligned.
pub enum Cell {
    Text(String),
    Num(f64, String),
}

/// A sortable table.
pub fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut s = String::from("<table class=\"sortable\"><thead><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", esc(h)));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for c in row {
            match c {
                Cell::Text(t) => s.push_str(&format!("<td class=\"l\">{}</td>", esc(t))),
                Cell::Num(v, t) => s.push_str(&format!("<td data-v=\"{v}\">{}</td>", esc(t))),
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}
