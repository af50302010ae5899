using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using ScheduledPosts.Testing;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 21, the OpenAPI document as the truth: every answer the tests receive through the gateway is checked against
/// the gateway's own <c>/openapi.json</c> — the operation of its method and path, the response of its status, and its
/// JSON body against that response's schema (JSON Schema 2020-12, by JsonSchema.Net). A mismatch throws from the client,
/// so the test that received the answer fails with the reason.
/// </summary>
public sealed partial class OpenApiContract
{
    private const string ComponentsPrefix = "#/components/schemas/";
    private readonly List<Operation> _operations;
    private readonly string _definitions;
    private readonly ConcurrentDictionary<string, JsonSchema> _schemas = new();
    private int _checked;

    private sealed record Operation(string Method, string Template, Regex Path, JsonObject Responses);

    private OpenApiContract(JsonObject document)
    {
        _operations = [.. document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(op => new Operation(op.Key.ToUpperInvariant(), p.Key, PathPattern(p.Key), op.Value!["responses"]!.AsObject())))
            // A literal segment beats a parameter: /v1/posts/{id}/cancel before /v1/posts/{id}.
            .OrderBy(o => o.Template.Count(c => c == '{'))];
        // Every schema's references point into components; each response schema is checked as a document of its own
        // that carries them as $defs.
        _definitions = (document["components"]?["schemas"]?.ToJsonString() ?? "{}").Replace(ComponentsPrefix, "#/$defs/", StringComparison.Ordinal);
    }

    /// <summary>How many answers were checked.</summary>
    public int Checked => _checked;

    public static async Task<OpenApiContract> LoadAsync(Uri gateway)
    {
        using var http = new HttpClient { BaseAddress = gateway };
        // A service that has just started may take longer than the gateway's fetch timeout to build its first document
        // on a loaded machine; the gateway then answers 503 "try again shortly", and so the suite does.
        using var response = await Eventually.Until(() => http.GetAsync("/openapi.json"),
            r => r.StatusCode != System.Net.HttpStatusCode.ServiceUnavailable, TimeSpan.FromMinutes(2), "the gateway's /openapi.json");
        response.EnsureSuccessStatusCode();
        return new OpenApiContract((await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    /// <summary>Why this answer does not match the document; null when it does.</summary>
    public string? Problem(string method, string path, int status, string? mediaType, string body)
    {
        Interlocked.Increment(ref _checked);
        var operation = _operations.FirstOrDefault(o => o.Method == method && o.Path.IsMatch(path));
        if (operation is null)
        {
            // Paths nobody serves answer the error envelope; a served path that is not documented is the mismatch.
            return status is 404 or 405 or 401 ? null : $"{method} {path} answered {status} but is not documented";
        }

        var response = operation.Responses[status.ToString(System.Globalization.CultureInfo.InvariantCulture)]
            ?? operation.Responses[$"{status / 100}XX"] ?? operation.Responses["default"];
        if (response is null)
        {
            return $"{method} {operation.Template} answered {status}, which its operation does not document";
        }

        var content = response["content"]?.AsObject();
        if (content is null || content.Count == 0)
        {
            return body.Length == 0 ? null : $"{method} {operation.Template} {status} documents no body but sent {Cut(body)}";
        }

        if (mediaType is null || content[mediaType] is not { } media)
        {
            return $"{method} {operation.Template} {status} sent {mediaType ?? "no content type"}; documented: {string.Join(", ", content.Select(c => c.Key))}";
        }

        if (media["schema"] is not { } schemaNode || !mediaType.Contains("json", StringComparison.Ordinal))
        {
            return null;
        }

        string key = $"{method} {operation.Template} {status} {mediaType}";
        var schema = _schemas.GetOrAdd(key, _ => Build(schemaNode));
        using var instance = JsonDocument.Parse(body);
        var result = schema.Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return null;
        }

        var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value} ({d.EvaluationPath})"))
            .Take(5);
        return $"{method} {operation.Template} {status} does not match its schema: {string.Join("; ", errors)} in {Cut(body)}";
    }

    private JsonSchema Build(JsonNode schemaNode)
    {
        var root = JsonNode.Parse(schemaNode.ToJsonString().Replace(ComponentsPrefix, "#/$defs/", StringComparison.Ordinal))!.AsObject();
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
        root["$defs"] = JsonNode.Parse(_definitions);
        // Every schema registers under its id, once per process: unique ids, as several stacks may check at once.
        var id = new Uri($"https://contract.scheduledposts.test/schema/{Guid.NewGuid():N}");
        return JsonSchema.FromText(root.ToJsonString(), BuildOptions.Default, id);
    }

    private static Regex PathPattern(string template)
        => new("^" + ParameterPattern().Replace(Regex.Escape(template).Replace("\\{", "{", StringComparison.Ordinal), "[^/]+") + "$", RegexOptions.CultureInvariant);

    private static string Cut(string body) => body.Length > 300 ? body[..300] + "…" : body;

    [GeneratedRegex(@"\{[^}/]+\}")]
    private static partial Regex ParameterPattern();
}

/// <summary>A client handler that checks each answer with <see cref="OpenApiContract"/> and throws on a mismatch.</summary>
public sealed class ContractCheckingHandler(OpenApiContract contract) : DelegatingHandler(new HttpClientHandler())
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        string path = request.RequestUri!.AbsolutePath;
        if (path is "/openapi.json" || path.StartsWith("/docs", StringComparison.Ordinal))
        {
            return response;
        }

        await response.Content.LoadIntoBufferAsync(cancellationToken);
        string body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (contract.Problem(request.Method.Method, path, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body) is { } problem)
        {
            throw new ContractMismatchException(problem);
        }

        return response;
    }
}

public sealed class ContractMismatchException(string message) : Exception($"The answer does not match /openapi.json: {message}");
