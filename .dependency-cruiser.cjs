// The architecture, checked on every `npm test` (npm run check:deps): no import cycles, and
// dependencies run one way: merge-core <- protocol <- node, merge-core <- clinical <- node.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'An import cycle couples modules that should stand alone.', from: {}, to: { circular: true } },
    {
      name: 'merge-core-stands-alone',
      severity: 'error',
      comment: 'The merge engine knows nothing of the network, the models or TensorFlow.',
      from: { path: '^packages/merge-core/src' },
      to: { path: '^packages/(protocol|clinical|node)/|@tensorflow|libp2p|@chainsafe' }
    },
    {
      name: 'protocol-knows-no-libp2p-internals',
      severity: 'error',
      comment: 'Wire messages and validation: no libp2p host, no models, no daemon.',
      from: { path: '^packages/protocol/src' },
      to: { path: '^packages/(clinical|node)/|@tensorflow|node_modules/libp2p/|@libp2p/(tcp|gossipsub|identify|ping|mdns|bootstrap)|@chainsafe' }
    },
    {
      name: 'clinical-knows-no-network',
      severity: 'error',
      comment: 'Models and the clinical pipeline know nothing of the protocol or the daemon.',
      from: { path: '^packages/clinical/src' },
      to: { path: '^packages/(protocol|node)/|libp2p' }
    },
    {
      name: 'tensorflow-only-in-clinical',
      severity: 'error',
      comment: 'TensorFlow.js lives in @medforge/clinical alone.',
      from: { pathNot: '^packages/clinical/' },
      to: { path: '@tensorflow' }
    },
    {
      name: 'tests-and-scripts-through-public-apis',
      severity: 'error',
      comment: "Programs outside a package use its public API (the package name), as any user would.",
      from: { path: '^(test|scripts)/' },
      to: { path: '^packages/[^/]+/src/', pathNot: '^packages/[^/]+/src/index\\.ts$' }
    },
    {
      name: 'packages-through-their-public-api',
      severity: 'error',
      comment: "Another package's internals are reached through its index (its package name), never by path.",
      from: { path: '^packages/([^/]+)/src' },
      to: { path: '^packages/([^/]+)/src/(?!index\\.ts$)', pathNot: '^packages/$1/' }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    exclude: { path: 'node_modules' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'], extensions: ['.ts', '.js'] }
  }
}
