/**
 * @module server/ui/assets
 * The stylesheet and the one small script of the pages, served from `/static/` (the CSP allows
 * scripts and styles from this origin only: no inline code). The pages work without the script;
 * it adds the connection form's per-type fields, its Test button, and delete confirmations.
 */

/** `/static/app.css`. */
export const APP_CSS = `
:root{--fg:#1c2430;--muted:#5b6675;--line:#d8dee6;--bg:#f6f8fa;--card:#fff;--accent:#1f5fbf;--danger:#b3261e;--ok:#1e7b34;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}body{margin:0;line-height:1.5}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:8px;z-index:9}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:10px 24px;background:#14243d;color:#fff}
.top a{color:#fff}.brand{font-weight:700;font-size:1.2rem;text-decoration:none}
.top nav ul{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;margin:0;padding:0}
.top nav a{text-decoration:none;padding:4px 2px}.top nav a[aria-current=page]{border-bottom:2px solid #9cc2ff}
.who{margin-left:auto;display:flex;align-items:center;gap:8px}.role{font-size:.8rem;background:#2c4669;border-radius:8px;padding:1px 8px}
.who .link{color:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}main:focus{outline:none}
h1{font-size:1.6rem;margin:8px 0 16px}h2{font-size:1.15rem;margin:0 0 8px}
a{color:var(--accent)}:focus-visible{outline:3px solid #8ab4ff;outline-offset:2px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px;margin:16px 0;display:flex;flex-direction:column;gap:6px}
.card.narrow{max-width:380px}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
label{font-weight:600;font-size:.95rem}label.check{font-weight:400;display:flex;gap:8px;align-items:center}
input,select,textarea{font:inherit;padding:8px;border:1px solid #aab4c0;border-radius:6px;width:100%;max-width:100%;background:#fff;color:inherit}
input[type=checkbox]{width:auto}input[readonly]{background:#eef1f4}
button,.button{font:inherit;background:var(--accent);color:#fff;border:0;border-radius:6px;padding:8px 14px;cursor:pointer;text-decoration:none;display:inline-block;min-height:40px}
button.secondary{background:#e6ecf3;color:var(--fg);border:1px solid #aab4c0}
button.link{background:none;color:var(--accent);padding:0;min-height:0;text-decoration:underline}button.danger{color:var(--danger)}
.card button{align-self:flex-start;margin-top:8px}.buttons{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.search{display:flex;flex-wrap:wrap;align-items:flex-end;gap:8px}.search input,.search select{width:auto;flex:1 1 200px}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%}caption{text-align:left;padding:8px 12px;font-weight:600}
th,td{text-align:left;padding:8px 12px;border-top:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
thead th{border-top:0;background:#eef1f4;font-size:.9rem;white-space:nowrap}tbody th{font-weight:600}
td.value code{white-space:pre-wrap}.actions{white-space:nowrap}.actions a{margin-right:12px}
form.inline{display:inline}.muted{color:var(--muted)}
.flash{padding:10px 14px;border-radius:6px;border:1px solid}.flash.ok{background:#e8f5ec;border-color:#9ccfa9}.flash.error{background:#fdecea;border-color:#f1aaa5}
.badge{background:#fde7c2;border-radius:8px;padding:1px 8px;font-size:.8rem;font-weight:600}
.healthy{color:var(--ok);font-weight:600}.unhealthy{color:var(--danger);font-weight:600}
tr.serving{background:#e8f5ec}code.token{word-break:break-all}
#test-result.ok{color:var(--ok)}#test-result.error{color:var(--danger)}
.state{display:inline-block;border-radius:8px;padding:0 8px;font-size:.85rem;font-weight:600;white-space:nowrap;background:#eef1f4;color:#334155}
.state-success{background:#d7f0dd;color:#14532d}.state-failed{background:#fbd5d2;color:#8c1d18}
.state-running{background:#d6e6ff;color:#173f8a}.state-queued{background:#e9e6f7;color:#43307a}
.state-up_for_retry{background:#fde7c2;color:#7a4b00}.state-upstream_failed{background:#ffe0c7;color:#8a3b00}
.state-skipped{background:#f7d9ef;color:#6d1f5b}.state-none{background:#f1f3f5;color:#5b6675}.state-paused{background:#e6ecf3;color:#334155}
time,code.conf,.nowrap{white-space:nowrap}.actions form{display:inline-block;margin:0 4px 4px 0}table.runs-grid{width:auto}.runs-grid th,.runs-grid td{padding:4px 6px;text-align:center}.runs-grid tbody th{text-align:left;white-space:nowrap}
.cell{display:inline-block;width:22px;height:22px;border-radius:4px;border:1px solid rgba(0,0,0,.15);vertical-align:middle}
a.cell:hover{outline:2px solid var(--accent)}
.cell.state-success{background:#2e9b4b}.cell.state-failed{background:#d93025}.cell.state-running{background:#2f6fde}
.cell.state-queued{background:#8c7ad6}.cell.state-up_for_retry{background:#f0a500}.cell.state-upstream_failed{background:#f07b1a}
.cell.state-skipped{background:#e58bd0}.cell.state-none{background:#fff}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;list-style:none;padding:0;margin:8px 0;font-size:.9rem}.legend li{display:flex;gap:6px;align-items:center}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 16px}dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:break-word}
@media (max-width:640px){.top{padding:10px 12px}main{padding:12px}.who{margin-left:0}
 table,thead,tbody,tr,th,td{display:block}thead{position:absolute;left:-9999px}
 tr{border-top:1px solid var(--line);padding:6px 0}th,td{border:0;padding:2px 12px}
 td[data-label]::before{content:attr(data-label);display:inline-block;min-width:7.5em;margin-right:8px;font-weight:600;color:var(--muted)}
 .runs-grid td[data-label]::before{min-width:12em}code.conf{white-space:normal;overflow-wrap:anywhere}dl.facts{grid-template-columns:1fr}}
`;

/** `/static/app.js`. */
export const APP_JS = `
(function(){
  // At phone width a table's cells stack: each shows its column's label (data-label).
  document.querySelectorAll('table').forEach(function(t){
    var heads = Array.prototype.map.call(t.querySelectorAll('thead th'), function(th){ return th.textContent.trim(); });
    t.querySelectorAll('tbody tr').forEach(function(tr){
      Array.prototype.forEach.call(tr.children, function(cell, i){
        if (cell.tagName === 'TD' && !cell.hasAttribute('data-label') && heads[i]) cell.setAttribute('data-label', heads[i]);
      });
    });
  });
  document.addEventListener('submit', function(e){
    var f = e.target; var msg = f.getAttribute && f.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  var form = document.getElementById('conn-form');
  if (!form) return;
  var types = JSON.parse(form.getAttribute('data-conn-types') || '{}');
  var select = document.getElementById('conn_type_select');
  var typeInput = document.getElementById('conn_type');
  function apply(type){
    var spec = (types[type] || types.generic).fields;
    form.querySelectorAll('[data-field]').forEach(function(row){
      var field = row.getAttribute('data-field');
      row.hidden = !(field in spec);
      var label = row.querySelector('[data-label-for]');
      if (label && spec[field]) label.textContent = spec[field];
    });
  }
  select.addEventListener('change', function(){
    if (select.value !== 'generic') typeInput.value = select.value;
    apply(select.value);
  });
  var result = document.getElementById('test-result');
  document.getElementById('test-connection').addEventListener('click', function(){
    var body = { connection_id: form.connection_id.value || 'test', conn_type: typeInput.value };
    ['description','host','login','password','schema','extra'].forEach(function(k){ var el = form.elements[k]; if (el && el.value) body[k] = el.value; });
    if (form.elements.port && form.elements.port.value) body.port = Number(form.elements.port.value);
    var meta = document.querySelector('meta[name="csrf-token"]');
    result.className = ''; result.textContent = 'Testing…';
    fetch('/api/v1/connections/test', { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': meta ? meta.content : '' },
      body: JSON.stringify(body) })
      .then(function(r){ return r.json(); })
      .then(function(j){
        var ok = j.status === true;
        result.className = ok ? 'ok' : 'error';
        result.textContent = (ok ? 'OK: ' : 'Failed: ') + (j.message || j.detail || '');
      })
      .catch(function(){ result.className = 'error'; result.textContent = 'Failed: the request did not complete'; });
  });
})();
`;
