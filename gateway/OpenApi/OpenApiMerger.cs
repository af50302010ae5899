using System.Text.Json.Nodes;
using ScheduledPosts.Gateway.Admin;
using ScheduledPosts.Gateway.Dialects;
using ScheduledPosts.ServiceDefaults.OpenApi;

namespace ScheduledPosts.Gateway.OpenApi;

/// <summary>One service's own OpenAPI document, and which gateway route (if any) exposes each of its paths.</summary>
/// <param name="RouteOf">The id of the gateway route serving a path, or null when the path is not public.</param>
public sealed record ServiceDocument(string Service, JsonObject Document, Func<string, string?> RouteOf);

/// <summary>
/// Builds the public OpenAPI document from the gateway's own generated document and the services' generated
/// documents: their public paths, their components (identical schemas once, clashing names prefixed with the
/// service), and what the gateway adds to every call — authentication, 401/403/429 — in one OpenAPI 3.1 document.
/// Pure: JSON in, JSON out.
/// </summary>
public static class OpenApiMerger
{
    public const string BearerScheme = "bearerAuth";
    public const string ApiKeyScheme = "apiKeyHeader";

    private static readonly string[] Methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    public static JsonObject Merge(JsonObject gateway, IEnumerable<ServiceDocument> services)
    {
        var merged = (JsonObject)gateway.DeepClone();
        merged["info"] = new JsonObject
        {
            ["title"] = "ScheduledPosts API",
            ["version"] = "v1",
            ["description"] = """
                Schedule social-media posts and publish them to several accounts at once. Every `/v1` call needs an API key
                (`Authorization: Bearer <key>` or `X-Api-Key: <key>`) and is scoped to the key's workspace. Errors always use
                the envelope `{"error": {code, message, requestId, details?}}`; send `X-Request-Id` to choose the request id.
                Each key is rate limited (token bucket); responses carry `RateLimit-*` headers and a 429 carries `Retry-After`.
                """,
        };
        merged.Remove("servers");
        var paths = Object(merged, "paths");
        var components = Object(merged, "components");
        var schemas = Object(components, "schemas");

        foreach (var service in services)
        {
            var document = (JsonObject)service.Document.DeepClone();
            var renames = new Dictionary<string, string>(StringComparer.Ordinal);
            if (document["components"]?["schemas"] is JsonObject theirs)
            {
                foreach (var (name, schema) in theirs)
                {
                    if (schemas[name] is { } ours && !JsonNode.DeepEquals(ours, schema))
                    {
                        renames[name] = Pascal(service.Service) + name;
                    }
                }

                foreach (var (from, to) in renames)
                {
                    var schema = theirs[from];
                    theirs.Remove(from);
                    theirs[to] = schema;
                }

                RenameSchemaReferences(document, renames);
                foreach (var (name, schema) in theirs)
                {
                    schemas[name] ??= schema!.DeepClone();
                }
            }

            foreach (var (path, item) in document["paths"] as JsonObject ?? [])
            {
                if (service.RouteOf(path) is not { } route || item is not JsonObject operations)
                {
                    continue;
                }

                var into = Object(paths, path);
                foreach (var (key, value) in operations)
                {
                    if (into.ContainsKey(key))
                    {
                        continue; // the first service to describe an operation wins; a route reaches one cluster anyway
                    }

                    var copy = value!.DeepClone();
                    if (Methods.Contains(key) && copy is JsonObject operation)
                    {
                        // The public face groups operations by the gateway route that serves them, whatever the services call them.
                        operation["tags"] = new JsonArray(route);
                    }

                    into[key] = copy;
                }
            }
        }

        foreach (var (path, item) in paths)
        {
            foreach (var (method, node) in item as JsonObject ?? [])
            {
                if (Methods.Contains(method) && node is JsonObject operation)
                {
                    AddGatewayResponses(path, operation);
                    operation["responses"] = SortedResponses((JsonObject)operation["responses"]!);
                }
            }
        }

        merged["paths"] = Sorted(paths);
        RemoveUnusedSchemas(merged, schemas);
        AddSecurity(merged, components);
        AddTagList(merged);
        return merged;
    }

    /// <summary>The paths of the anonymous routes (<c>"AuthorizationPolicy": "anonymous"</c>): reached without a key, never rate limited by one.</summary>
    private static readonly HashSet<string> AnonymousPaths = new(StringComparer.Ordinal) { "/v1/oauth/callback" };

    private static void AddGatewayResponses(string path, JsonObject operation)
    {
        var responses = Object(operation, "responses");
        if (AnonymousPaths.Contains(path))
        {
            operation["security"] = new JsonArray();
            Add(responses, "400", Error("BAD_REQUEST: the state is not one this service issued, was used already, or expired; nothing changed."));
            return;
        }

        if (path.StartsWith("/admin/", StringComparison.Ordinal))
        {
            operation["security"] = new JsonArray(new JsonObject { [AdminApi.SecurityScheme] = new JsonArray() });
            Add(responses, "401", Error("UNAUTHENTICATED: the admin token is missing or wrong."));
            return;
        }

        // A dialect's paths answer the gateway's own errors in that dialect's error body.
        string schema = Dialect.Of(path)?.ErrorSchema ?? OpenApiDefaults.ErrorSchema;
        Add(responses, "401", Error("UNAUTHENTICATED: no API key, or a revoked or unknown one.", schema));
        Add(responses, "403", Error("FORBIDDEN_SCOPE: the key's role or scopes do not allow this operation.", schema));
        var limited = Error("RATE_LIMITED: the key sent more than its rate limit; retry after Retry-After seconds.", schema);
        limited["headers"] = new JsonObject
        {
            ["Retry-After"] = new JsonObject
            {
                ["description"] = "Seconds to wait before retrying.",
                ["schema"] = new JsonObject { ["type"] = "integer" },
            },
        };
        Add(responses, "429", limited);
    }

    private static void AddSecurity(JsonObject merged, JsonObject components)
    {
        var schemes = Object(components, "securitySchemes");
        schemes[BearerScheme] = new JsonObject
        {
            ["type"] = "http",
            ["scheme"] = "bearer",
            ["description"] = "An API key of the workspace: `Authorization: Bearer <key>`.",
        };
        schemes[ApiKeyScheme] = new JsonObject
        {
            ["type"] = "apiKey",
            ["in"] = "header",
            ["name"] = "X-Api-Key",
            ["description"] = "The same API key, in the `X-Api-Key` header instead.",
        };
        schemes[AdminApi.SecurityScheme] = new JsonObject
        {
            ["type"] = "http",
            ["scheme"] = "bearer",
            ["description"] = "The operator's admin token (`SP_ADMIN_TOKEN`); the admin API does not exist without one.",
        };
        merged["security"] = new JsonArray(
            new JsonObject { [BearerScheme] = new JsonArray() },
            new JsonObject { [ApiKeyScheme] = new JsonArray() });
    }

    private static void AddTagList(JsonObject merged)
    {
        var used = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (_, item) in (JsonObject)merged["paths"]!)
        {
            foreach (var (method, node) in item as JsonObject ?? [])
            {
                if (Methods.Contains(method) && node?["tags"] is JsonArray tags)
                {
                    used.UnionWith(tags.Select(t => t!.GetValue<string>()));
                }
            }
        }

        merged["tags"] = new JsonArray([.. used.Select(tag => (JsonNode)new JsonObject
        {
            ["name"] = tag,
            ["description"] = TagDescriptions.GetValueOrDefault(tag, $"The {tag} endpoints."),
        })]);
    }

    private static readonly Dictionary<string, string> TagDescriptions = new(StringComparer.Ordinal)
    {
        ["admin"] = "Operator endpoints, enabled by an admin token.",
        ["layers"] = "Layers-compatible endpoints: a Layers client changes only its base URL (docs/migrating-layers.md).",
        ["postpost"] = "PostPost-compatible endpoints under /api/v1, errors as {\"error\": message} (docs/migrating-postpost.md).",
        ["postbreeze"] = "Postbreeze-compatible endpoints under /postbreeze/api/v1, errors as {statusCode, code, message, requestId} (docs/migrating-postbreeze.md).",
    };

    /// <summary>Drops the schemas only the left-out (non-public) paths used, following references between schemas.</summary>
    private static void RemoveUnusedSchemas(JsonObject merged, JsonObject schemas)
    {
        var used = new HashSet<string>(StringComparer.Ordinal) { OpenApiDefaults.ErrorSchema };
        var pending = new Queue<JsonNode?>([merged["paths"], schemas[OpenApiDefaults.ErrorSchema]]);
        while (pending.Count > 0)
        {
            foreach (string name in References(pending.Dequeue()))
            {
                if (used.Add(name))
                {
                    pending.Enqueue(schemas[name]);
                }
            }
        }

        foreach (string name in schemas.Select(s => s.Key).Where(name => !used.Contains(name)).ToList())
        {
            schemas.Remove(name);
        }
    }

    private static IEnumerable<string> References(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    if (key == "$ref" && value is JsonValue v && v.TryGetValue(out string? reference)
                        && reference.StartsWith(SchemaPrefix, StringComparison.Ordinal))
                    {
                        yield return reference[SchemaPrefix.Length..];
                    }
                    else
                    {
                        foreach (string name in References(value))
                        {
                            yield return name;
                        }
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    foreach (string name in References(item))
                    {
                        yield return name;
                    }
                }

                break;
        }
    }

    private static void RenameSchemaReferences(JsonNode? node, IReadOnlyDictionary<string, string> renames)
    {
        if (renames.Count == 0)
        {
            return;
        }

        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj.ToList())
                {
                    if (key == "$ref" && value?.GetValue<string>() is { } reference
                        && reference.StartsWith(SchemaPrefix, StringComparison.Ordinal)
                        && renames.TryGetValue(reference[SchemaPrefix.Length..], out var renamed))
                    {
                        obj[key] = SchemaPrefix + renamed;
                    }
                    else
                    {
                        RenameSchemaReferences(value, renames);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    RenameSchemaReferences(item, renames);
                }

                break;
        }
    }

    private const string SchemaPrefix = "#/components/schemas/";

    private static JsonObject Error(string description, string schema = OpenApiDefaults.ErrorSchema) => new()
    {
        ["description"] = description,
        ["content"] = new JsonObject
        {
            ["application/json"] = new JsonObject
            {
                ["schema"] = new JsonObject { ["$ref"] = SchemaPrefix + schema },
            },
        },
    };

    private static void Add(JsonObject responses, string status, JsonObject response)
    {
        if (!responses.ContainsKey(status))
        {
            responses[status] = response;
        }
    }

    private static JsonObject Object(JsonObject parent, string name)
    {
        if (parent[name] is JsonObject existing)
        {
            return existing;
        }

        var created = new JsonObject();
        parent[name] = created;
        return created;
    }

    private static JsonObject Sorted(JsonObject paths)
    {
        var sorted = new JsonObject();
        foreach (var (path, item) in paths.OrderBy(p => p.Key, StringComparer.Ordinal).ToList())
        {
            paths.Remove(path);
            sorted[path] = item;
        }

        return sorted;
    }

    // Status codes in order, "default" last.
    private static JsonObject SortedResponses(JsonObject responses)
    {
        var sorted = new JsonObject();
        foreach (var (status, response) in responses.OrderBy(r => r.Key == "default" ? "999" : r.Key, StringComparer.Ordinal).ToList())
        {
            responses.Remove(status);
            sorted[status] = response;
        }

        return sorted;
    }

    private static string Pascal(string name)
        => string.Concat(name.Split('-', '_', ' ').Where(w => w.Length > 0).Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
}
