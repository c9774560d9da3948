// lovely.remotetask dashboard: refreshes the states of the jobs shown,
// without reloading the page, from the service's rows.json; selects all
// rows; asks before the forms that act on every job.  No framework.
(function () {
  'use strict';

  var FINISHED = ['completed', 'cancelled', 'error', 'removed'];

  function rowsToWatch(table) {
    return Array.prototype.filter.call(
      table.querySelectorAll('tbody tr[data-job]'),
      function (row) {
        var status = row.querySelector('td.status').textContent;
        return FINISHED.indexOf(status) < 0;
      });
  }

  function setText(row, name, value) {
    var cell = row.querySelector('td.' + name);
    if (cell && cell.textContent !== String(value)) {
      cell.textContent = value;
    }
  }

  function update(row, data) {
    if (!data) {   // removed meanwhile
      setText(row, 'status', 'removed');
      row.className = 'status-removed';
      return;
    }
    ['status', 'started', 'completed', 'attempts', 'note'].forEach(function (name) {
      setText(row, name, data[name]);
    });
    row.className = 'status-' + data.status.replace(/ /g, '-');
    // The server escaped the detail (see detail.renderDetail).
    var detail = row.querySelector('td.detail .detail-text');
    if (detail && detail.innerHTML !== data.detail) {
      detail.innerHTML = data.detail;
    }
    var box = row.querySelector('input.select');
    if (box) {
      box.disabled = !data.cancellable;
      if (box.disabled) { box.checked = false; }
    }
  }

  function refresh(table) {
    var rows = rowsToWatch(table);
    if (rows.length === 0 || document.hidden) { return Promise.resolve(); }
    var ids = rows.map(function (row) { return row.dataset.job; });
    var url = table.dataset.rowsUrl + '?ids=' + ids.join(',');
    return fetch(url, {credentials: 'same-origin',
                       headers: {'Accept': 'application/json'}})
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      })
      .then(function (data) {
        rows.forEach(function (row) { update(row, data.rows[row.dataset.job]); });
        table.dataset.refreshed = String(Date.now());
      })
      .catch(function (error) { table.dataset.refreshError = String(error); });
  }

  function start() {
    var table = document.getElementById('jobs');
    if (table && table.dataset.rowsUrl) {
      var interval = parseInt(table.dataset.refresh, 10) || 2000;
      var tick = function () {
        refresh(table).then(function () { setTimeout(tick, interval); });
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
