import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';

const OPERATORS = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Mod',
  'Pow',
  'Eql',
  'Neq',
  'Gtr',
  'Lss',
  'Gte',
  'Lte',
  'And',
  'Or',
  'Unless',
  'Atan2',
]);

/** Grafana's interval variables are not PromQL; any valid duration stands in for them. */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)/g, '5m');
}

export interface Selector {
  readonly metric: string;
  /** Label names its matchers use. */
  readonly labels: readonly string[];
}

export interface Analysis {
  readonly syntaxErrors: string[];
  readonly selectors: Selector[];
  /** Labels of the resulting series (what a legend or an alert annotation can name); null for a scalar. */
  readonly outputLabels: Set<string> | null;
  /** Labels used in by/without/on/ignoring that the series at that point do not have. */
  readonly unknownLabels: string[];
}

/**
 * Parses a PromQL expression and follows its labels from the selectors outwards, so that a
 * legend `{{route}}` or a `by (route)` over a series without `route` is caught without a server.
 */
export function analyse(expression: string, labelsOf: (metric: string) => Set<string>): Analysis {
  const expr = substituteGrafanaVariables(expression);
  const tree = parser.parse(expr);
  const text = (n: SyntaxNode) => expr.slice(n.from, n.to);
  const syntaxErrors: string[] = [];
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) syntaxErrors.push(`syntax error at ${n.from}: …${expr.slice(Math.max(0, n.from - 20), n.to + 20)}…`);
    },
  });
  const selectors: Selector[] = [];
  const unknownLabels: string[] = [];
  const children = (n: SyntaxNode) => {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
    return out;
  };
  const labelNames = (n: SyntaxNode | undefined) =>
    n
      ? children(n)
          .filter((c) => c.name === 'LabelName')
          .map(text)
      : [];
  const check = (wanted: string[], have: Set<string> | null, where: string) => {
    for (const l of wanted) if (!have?.has(l)) unknownLabels.push(`${l} (${where})`);
  };

  const labels = (n: SyntaxNode): Set<string> | null => {
    const kids = children(n);
    switch (n.name) {
      case 'PromQL':
      case 'ParenExpr':
      case 'SubqueryExpr':
      case 'MatrixSelector':
      case 'UnaryExpr':
      case 'StepInvariantExpr':
        return labels(kids.find((k) => k.name !== 'DurationExpr' && k.name !== 'UnaryOp' && !OPERATORS.has(k.name))!);
      case 'VectorSelector': {
        const metric = kids.find((k) => k.name === 'Identifier');
        const matchers = kids.find((k) => k.name === 'LabelMatchers');
        const used = matchers
          ? children(matchers).flatMap((m) =>
              children(m)
                .filter((c) => c.name === 'LabelName' || c.name === 'QuotedLabelName')
                .map((c) => text(c).replace(/^"|"$/g, '')),
            )
          : [];
        const name = metric ? text(metric) : '';
        selectors.push({ metric: name, labels: used });
        const have = labelsOf(name);
        check(
          used.filter((l) => l !== '__name__'),
          have,
          `matcher on ${name}`,
        );
        return have;
      }
      case 'FunctionCall': {
        const fn = kids.find((k) => k.name === 'FunctionIdentifier')?.firstChild?.name;
        const args = children(kids.find((k) => k.name === 'FunctionCallBody')!);
        const argLabels = args.map(labels);
        if (fn === 'HistogramQuantile') {
          const inner = argLabels[1] ?? null;
          check(['le'], inner, 'histogram_quantile');
          return inner ? new Set([...inner].filter((l) => l !== 'le')) : null;
        }
        return argLabels.find((l) => l !== null) ?? null;
      }
      case 'AggregateExpr': {
        const modifier = kids.find((k) => k.name === 'AggregateModifier');
        const body = kids.find((k) => k.name === 'FunctionCallBody')!;
        const args = children(body);
        const inner = labels(args[args.length - 1]!);
        if (!modifier) return new Set();
        const grouping = labelNames(children(modifier).find((k) => k.name === 'GroupingLabels'));
        check(grouping, inner, 'grouping');
        if (modifier.firstChild?.name === 'Without') return new Set([...(inner ?? [])].filter((l) => !grouping.includes(l)));
        return new Set(grouping);
      }
      case 'BinaryExpr': {
        const exprs = kids.filter((k) => k.name !== 'MatchingModifierClause' && k.name !== 'BoolModifier' && !OPERATORS.has(k.name));
        const [left, right] = exprs.map(labels);
        const matching = kids.find((k) => k.name === 'MatchingModifierClause');
        if (matching && left && right) {
          const on = labelNames(children(matching).find((k) => k.name === 'GroupingLabels'));
          check(on, left, 'on/ignoring, left');
          check(on, right, 'on/ignoring, right');
          if (matching.firstChild?.name === 'On') return new Set(on);
        }
        return left ?? right ?? null;
      }
      default:
        return null;
    }
  };
  const outputLabels = syntaxErrors.length === 0 ? labels(tree.topNode) : null;
  return { syntaxErrors, selectors, outputLabels, unknownLabels };
}
