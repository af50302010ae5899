using System.Text.RegularExpressions;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Repository.Tests;

/// <summary>
/// <c>docs/architecture.md</c> describes the tree as it is: every path it names exists, and every project and every
/// source folder of a service is named there, so a folder added or moved without its description fails here.
/// </summary>
public sealed partial class ArchitectureDocTests
{
    private const string Document = "docs/architecture.md";

    /// <summary>The projects whose source folders the document describes one by one (everything but the tests).</summary>
    private static readonly string[] ServiceRoots = ["protos", "services", "gateway"];

    [Fact]
    public void Every_path_it_names_exists()
    {
        var missing = PathTokens().Where(p => !File.Exists(Full(p)) && !Directory.Exists(Full(p))).ToList();

        Assert.True(missing.Count == 0, $"{Document} names paths the tree does not hold: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Every_project_of_the_solution_is_named()
    {
        var named = PathTokens().Select(p => p.TrimEnd('/')).ToHashSet(StringComparer.Ordinal);
        var projects = SolutionProjects().ToList();
        Assert.NotEmpty(projects);

        var unnamed = projects
            .Where(csproj => !named.Contains(csproj) && !named.Contains(Path.GetDirectoryName(csproj)!.Replace('\\', '/')))
            .ToList();

        Assert.True(unnamed.Count == 0, $"{Document} does not name these projects by their folder: {string.Join(", ", unnamed)}");
    }

    [Fact]
    public void Every_source_folder_of_a_service_is_named()
    {
        var named = PathTokens().Select(p => p.TrimEnd('/')).ToHashSet(StringComparer.Ordinal);
        var folders = SolutionProjects()
            .Select(csproj => Path.GetDirectoryName(csproj)!.Replace('\\', '/'))
            .Where(project => ServiceRoots.Any(root => project == root || project.StartsWith(root + "/", StringComparison.Ordinal)))
            .SelectMany(SourceFolders)
            .ToList();
        Assert.NotEmpty(folders);

        var unnamed = folders.Where(f => !named.Contains(f)).ToList();

        Assert.True(unnamed.Count == 0, $"{Document} does not describe these source folders: {string.Join(", ", unnamed)}");
    }

    /// <summary>Backticked tokens that look like repository paths: a slash, no spaces or placeholders, not a URL or route.</summary>
    private static IReadOnlyList<string> PathTokens()
    {
        string text = File.ReadAllText(Full(Document));
        return [.. Backticked().Matches(text)
            .Select(m => m.Groups["token"].Value)
            .Where(t => t.Contains('/', StringComparison.Ordinal)
                        && !t.Any(char.IsWhiteSpace)
                        && !t.Contains('{', StringComparison.Ordinal)
                        && !t.Contains('*', StringComparison.Ordinal)
                        && !t.StartsWith('/')
                        && !t.StartsWith("http", StringComparison.OrdinalIgnoreCase)
                        && !t.Contains("://", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The project files the solution lists, relative to the repository root with forward slashes.</summary>
    private static IEnumerable<string> SolutionProjects()
        => SolutionProject().Matches(File.ReadAllText(Full("ScheduledPosts.sln")))
            .Select(m => m.Groups["path"].Value.Replace('\\', '/'));

    /// <summary>The folders directly under a project that hold C# sources (at any depth), bin and obj left out.</summary>
    private static IEnumerable<string> SourceFolders(string project)
        => Directory.EnumerateDirectories(Full(project))
            .Where(dir => Path.GetFileName(dir) is not ("bin" or "obj")
                          && Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
                              .Any(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
            .Select(dir => Path.GetRelativePath(Suite.RepoRoot, dir).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);

    private static string Full(string relative) => Path.Combine(Suite.RepoRoot, relative);

    [GeneratedRegex(@"`(?<token>[^`\r\n]+)`")]
    private static partial Regex Backticked();

    // Project("{...}") = "Name", "path\to\Name.csproj", "{...}"
    [GeneratedRegex(@"^Project\(""[^""]*""\)\s*=\s*""[^""]*"",\s*""(?<path>[^""]+\.csproj)""", RegexOptions.Multiline)]
    private static partial Regex SolutionProject();
}
