package pipeline

// Merged returns the configuration as GitLab's merged_yaml shows it: what
// the CI Lint API returns with include_merged_yaml, the pipeline editor's
// Full configuration tab, and `glab ci config compile`
// (https://docs.gitlab.com/api/lint/, https://docs.gitlab.com/ci/pipeline_editor/#view-full-configuration).
// GitLab builds it in Gitlab::Ci::Config#build_config
// (lib/gitlab/ci/config.rb), and so does Merged, step for step:
//
//   - the YAML read (anchors and << merges applied), includes merged in and
//     include: removed, spec:inputs interpolated (External::Processor);
//   - extends applied to every job, hidden ones too (Extendable): a job
//     keeps its extends: key and a null it sets, as Ruby's deep_merge
//     leaves them;
//   - every !reference replaced by what it names (Yaml::Tags::Resolver);
//   - stages: (or the old types:) given .pre first and .post last
//     (EdgeStagesInjector).
//
// What comes later in GitLab, when the configuration is composed into
// jobs, is not applied: default: and the old top-level image, services,
// cache, before_script and after_script stay where they are written,
// unmerged into the jobs, and hidden jobs stay. Top-level keys keep the
// order GitLab's merge gives them: included files first, then the file's
// own new keys.
//
// Values keep their positions. Merged reports no problems: the load
// already has (Pipeline.Problems).
func (p *Pipeline) Merged() *Node {
	if p.Global == nil {
		return nil
	}
	// A throwaway loader takes the problems extends and !reference find
	// again; Problems holds them once.
	r := newResolver(&loader{p: &Pipeline{}}, p.Global, true, maxResolved)
	pairs := make([]Pair, 0, len(p.Global.Pairs))
	stages := -1
	for _, pr := range p.Global.Pairs {
		switch {
		case IsJobKey(pr.Key) && pr.Value.Kind == Map:
			n := r.resolveRefs(r.post.get(pr.Key), "", 0)
			if r.spend(n, pr.KeyPos) {
				pr.Value = n
			}
		case pr.Key == "stages" || (pr.Key == "types" && stages < 0):
			stages = len(pairs)
		}
		pairs = append(pairs, pr)
	}
	if stages >= 0 {
		pairs[stages].Value = withEdgeStages(pairs[stages].Value)
	}
	return withPairs(p.Global, pairs)
}

// withEdgeStages is a stages list with .pre first and .post last, each
// once, as GitLab's EdgeStagesInjector.wrap_stages makes it
// (lib/gitlab/ci/config/edge_stages_injector.rb; "the .pre and .post
// stages are in every pipeline", https://docs.gitlab.com/ci/yaml/#stage-pre).
// Anything but a non-empty list is left as it is.
func withEdgeStages(n *Node) *Node {
	if n == nil || n.Kind != Seq || isRef(n) || len(n.Items) == 0 {
		return n
	}
	items := make([]*Node, 0, len(n.Items)+2)
	items = append(items, strAt(".pre", n.Pos))
	for _, it := range n.Items {
		if it.Kind == Scalar && (it.Value == ".pre" || it.Value == ".post") {
			continue
		}
		items = append(items, it)
	}
	items = append(items, strAt(".post", n.Pos))
	c := *n
	c.Items = items
	return &c
}
