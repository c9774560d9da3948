// lovely.remotetask dashboard: keeps the jobs table up to date without
// reloading the page, from the service's rows.json, and the parts that
// follow the service (counts, charts, workers; the home page's rows) from
// live.json; selects all rows; asks before the forms that act on many
// jobs.  No framework.
//
// On the first page of a listing ("live"), the table follows the listing:
// new jobs show where the listing puts them (newest first: at the top),
// and jobs that left it (another status, past the page) go.  On the pages
// after it, the rows shown stay and their states are kept up to date.
// The server renders each row (escaped) the way it rendered the page.
(function () {
  'use strict';

  var FINISHED = ['completed', 'cancelled', 'error', 'removed'];

  function jobRows(table) {
    return Array.prototype.slice.call(
      table.querySelectorAll('tbody tr[data-job]'));
  }

  function rowsToWatch(table) {
    return jobRows(table).filter(function (row) {
      var status = row.querySelector('td.status').textContent;
      return FINISHED.indexOf(status) < 0;
    });
  }

  function build(html) {
    var holder = document.createElement('tbody');
    holder.innerHTML = html;
    return holder.firstElementChild;
  }

  // The row of `data`: `row` itself if nothing changed, else a new one
  // that keeps the row's checkbox ticked.
  function fresh(row, data) {
    if (row && row.dataset.html === data.html) { return row; }
    var made = build(data.html);
    made.dataset.html = data.html;
    var box = row && row.querySelector('input.select');
    var newBox = made.querySelector('input.select');
    if (box && newBox && box.checked && !newBox.disabled) {
      newBox.checked = true;
    }
    if (row) { row.parentNode.replaceChild(made, row); }
    return made;
  }

  function markRemoved(row) {
    var cell = row.querySelector('td.status');
    cell.textContent = 'removed';
    row.className = 'status-removed';
    var box = row.querySelector('input.select');
    if (box) { box.disabled = true; box.checked = false; }
  }

  function follow(table, data) {
    var body = table.tBodies[0];
    var shown = {};
    jobRows(table).forEach(function (row) { shown[row.dataset.job] = row; });
    var first = !table.dataset.followed;
    var placed = data.order.map(function (id) {
      var row = fresh(shown[id], data.rows[String(id)]);
      if (!shown[id] && !first) { row.classList.add('new'); }
      delete shown[id];
      return row;
    });
    Object.keys(shown).forEach(function (id) {
      body.removeChild(shown[id]);
    });
    placed.forEach(function (row) { body.appendChild(row); });
    var empty = body.querySelector('tr.empty-row');
    if (empty) { empty.hidden = placed.length > 0; }
    table.dataset.followed = '1';
  }

  function update(table, data) {
    jobRows(table).forEach(function (row) {
      var found = data.rows[row.dataset.job];
      if (found) { fresh(row, found); } else { markRemoved(row); }
    });
  }

  function refresh(table) {
    var live = table.dataset.live === '1';
    var rows = live ? jobRows(table) : rowsToWatch(table);
    if ((!live && rows.length === 0) || document.hidden) {
      return Promise.resolve();
    }
    // Live, the server reads the listing's first page again; else the
    // rows shown that may still change.
    var ids = live ? [] : rows.map(function (row) { return row.dataset.job; });
    var url = table.dataset.rowsUrl + '?ids=' + ids.join(',');
    if (table.dataset.state) { url += '&' + table.dataset.state; }
    if (live) { url += '&head=1'; }
    return fetch(url, {credentials: 'same-origin',
                       headers: {'Accept': 'application/json'}})
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (live) { follow(table, data); } else { update(table, data); }
        table.dataset.refreshed = String(Date.now());
        delete table.dataset.refreshError;
      })
      .catch(function (error) { table.dataset.refreshError = String(error); });
  }

  // The parts of the page that follow the services, each put in place of
  // the one shown when the server renders it otherwise.
  var partsShown = {};

  function refreshParts(holder) {
    if (document.hidden) { return Promise.resolve(); }
    return fetch(holder.dataset.liveUrl, {
      credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      })
      .then(function (data) {
        Object.keys(data.parts).forEach(function (id) {
          var shown = document.getElementById(id);
          var html = data.parts[id];
          if (shown && partsShown[id] !== html) { shown.outerHTML = html; }
          partsShown[id] = html;
        });
        holder.dataset.refreshed = String(Date.now());
        delete holder.dataset.refreshError;
      })
      .catch(function (error) {
        holder.dataset.refreshError = String(error);
      });
  }

  // The history chart's form asks live.json for the span and task chosen,
  // and shows them at once, without reloading the page.
  function followHistoryForm(holder) {
    var form = document.getElementById('history-form');
    if (!form) { return; }
    var show = function (event) {
      if (event) { event.preventDefault(); }
      // The page's address keeps the choice too, for a reload or a link.
      var url = new URL(holder.dataset.liveUrl, window.location.href);
      var page = new URL(window.location.href);
      ['chartHours', 'chartTask'].forEach(function (name) {
        url.searchParams.set(name, form.elements[name].value);
        page.searchParams.set(name, form.elements[name].value);
      });
      holder.dataset.liveUrl = url.pathname + url.search;
      window.history.replaceState(null, '', page.pathname + page.search);
      refreshParts(holder);
    };
    form.addEventListener('submit', show);
    form.querySelectorAll('select').forEach(function (select) {
      select.addEventListener('change', function () { show(); });
    });
  }

  function start() {
    var table = document.getElementById('jobs');
    var holder = document.querySelector('[data-live-url]');
    var work = [];
    if (table && table.dataset.rowsUrl) {
      work.push(function () { return refresh(table); });
    }
    if (holder) {
      work.push(function () { return refreshParts(holder); });
      followHistoryForm(holder);
    }
    if (work.length) {
      var interval = parseInt((table || holder).dataset.refresh, 10) || 2000;
      var tick = function () {
        Promise.all(work.map(function (step) { return step(); }))
          .then(function () { setTimeout(tick, interval); });
      };
      setTimeout(tick, interval);
    }
    var all = document.getElementById('select-all');
    if (all) {
      all.addEventListener('change', function () {
        document.querySelectorAll('input.select').forEach(function (box) {
          if (!box.disabled) { box.checked = all.checked; }
        });
      });
    }
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  }

  document.addEventListener('DOMContentLoaded', start);
}());
