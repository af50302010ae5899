using System.Text.RegularExpressions;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Repository.Tests;

/// <summary>A reader of the repository alone can follow every link of the README and of <c>docs/</c>.</summary>
public sealed partial class DocumentLinkTests
{
    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string>("README.md");
        string docs = Path.Combine(Suite.RepoRoot, "docs");
        if (Directory.Exists(docs))
        {
            foreach (string file in Directory.EnumerateFiles(docs, "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetRelativePath(Suite.RepoRoot, file).Replace('\\', '/'));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_relative_link_resolves_inside_the_repository(string document)
    {
        string path = Path.Combine(Suite.RepoRoot, document);
        string root = Path.GetFullPath(Suite.RepoRoot) + Path.DirectorySeparatorChar;
        var broken = new List<string>();
        foreach (Match link in MarkdownLink().Matches(File.ReadAllText(path)))
        {
            string target = link.Groups["target"].Value;
            if (Uri.TryCreate(target, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https" or "mailto")
            {
                continue;
            }

            string file = target.Split('#')[0];
            string resolved = file.Length == 0 ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, Uri.UnescapeDataString(file)));
            if (!resolved.StartsWith(root, StringComparison.Ordinal) || !(File.Exists(resolved) || Directory.Exists(resolved)))
            {
                broken.Add(target);
                continue;
            }

            string anchor = target.Contains('#', StringComparison.Ordinal) ? target[(target.IndexOf('#', StringComparison.Ordinal) + 1)..] : "";
            if (anchor.Length > 0 && resolved.EndsWith(".md", StringComparison.Ordinal) && !Anchors(resolved).Contains(anchor))
            {
                broken.Add(target);
            }
        }

        Assert.True(broken.Count == 0, $"{document} links to what the repository does not hold: {string.Join(", ", broken)}");
    }

    /// <summary>The anchors GitHub derives from a document's headings.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        bool fenced = false;
        foreach (string line in File.ReadLines(markdown))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }

            var heading = Heading().Match(line);
            if (!fenced && heading.Success)
            {
                string slug = heading.Groups["text"].Value.Trim().ToLowerInvariant();
                slug = NotSlug().Replace(slug, "").Replace(' ', '-');
                string unique = slug;
                for (int n = 1; !anchors.Add(unique); n++)
                {
                    unique = $"{slug}-{n}";
                }
            }
        }

        return anchors;
    }

    // [text](target) but not images' data URIs; the target ends at whitespace or the closing parenthesis.
    [GeneratedRegex(@"\[[^\]]*\]\((?<target>[^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"^#{1,6}\s+(?<text>.+?)\s*#*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\p{L}\p{Nd}\s_-]")]
    private static partial Regex NotSlug();
}
