// An OpenWhisk Node.js action (a web action): main(params) returns an object or a Promise.
function main(params) {
  const name = params.name || 'stranger';
  if (params.html) {
    return {headers: {'Content-Type': 'text/html'}, body: `<h1>Hello ${name}</h1>`};
  }
  return new Promise((resolve) => {
    setTimeout(() => resolve({payload: `Hello, ${name}!`, method: params.__ow_method}), 5);
  });
}

exports.main = main;
