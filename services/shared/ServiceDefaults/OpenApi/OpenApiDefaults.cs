using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.ApiExplorer;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.OpenApi;

/// <summary>
/// Each service describes its own REST endpoints (OpenAPI 3.1, generated from the minimal API metadata) at
/// <see cref="DocumentPath"/>; the gateway merges them into the public <c>/openapi.json</c>. What every operation
/// shares is added here: the error envelope as a component, the errors an operation can answer, and an
/// operation id and summary where the endpoint declares none.
/// </summary>
public static class OpenApiDefaults
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    public const string ErrorSchema = "ErrorEnvelope";

    public static IServiceCollection AddServiceOpenApi(this IServiceCollection services, string title)
    {
        services.AddOpenApi(DocumentName, options =>
        {
            options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            options.AddDocumentTransformer(async (document, context, ct) =>
            {
                document.Info.Title = title;
                document.Components ??= new OpenApiComponents();
                document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
                if (!document.Components.Schemas.ContainsKey(ErrorSchema))
                {
                    document.Components.Schemas[ErrorSchema] = await context.GetOrCreateSchemaAsync(typeof(ErrorEnvelope), null, ct);
                }
            });
            // JsonDefaults reads strings and timestamps with converters of its own, which hide their JSON type from
            // the schema generator; say it again (with null where the property is nullable).
            options.AddSchemaTransformer((schema, context, _) =>
            {
                var type = context.JsonTypeInfo.Type;
                var underlying = Nullable.GetUnderlyingType(type) ?? type;
                if (schema.Type is null && (underlying == typeof(string) || underlying == typeof(DateTimeOffset)))
                {
                    bool nullable = underlying != type || context.JsonPropertyInfo is { IsGetNullable: true };
                    schema.Type = nullable ? JsonSchemaType.String | JsonSchemaType.Null : JsonSchemaType.String;
                    if (underlying == typeof(DateTimeOffset))
                    {
                        schema.Format ??= "date-time";
                    }
                }

                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                var api = context.Description;
                operation.OperationId ??= OperationId(api);
                operation.Summary ??= $"{api.HttpMethod} /{api.RelativePath}";
                operation.Responses ??= [];
                bool hasBody = api.ParameterDescriptions.Any(p => p.Source == BindingSource.Body || p.Source == BindingSource.FormFile);
                bool hasPathParameters = api.ParameterDescriptions.Any(p => p.Source == BindingSource.Path);
                if (hasBody)
                {
                    AddError(operation, context, StatusCodes.Status400BadRequest, "BAD_REQUEST: the body is not valid JSON for this operation, or has the wrong content type.");
                    AddError(operation, context, StatusCodes.Status413PayloadTooLarge, "PAYLOAD_TOO_LARGE: the body is larger than this operation accepts.");
                    AddError(operation, context, StatusCodes.Status422UnprocessableEntity, "VALIDATION: a field breaks a rule; details.issues locates each.");
                }

                if (hasPathParameters)
                {
                    AddError(operation, context, StatusCodes.Status404NotFound, "NOT_FOUND: no such resource in the caller's workspace.");
                }

                AddError(operation, context, "default", "Any other error, in the same envelope.");
                return Task.CompletedTask;
            });
        });
        return services;
    }

    private static void AddError(OpenApiOperation operation, OpenApiOperationTransformerContext context, int status, string description)
        => AddError(operation, context, status.ToString(System.Globalization.CultureInfo.InvariantCulture), description);

    private static void AddError(OpenApiOperation operation, OpenApiOperationTransformerContext context, string status, string description)
    {
        if (operation.Responses!.ContainsKey(status))
        {
            return;
        }

        operation.Responses[status] = ErrorResponse(description, context.Document);
    }

    /// <summary>A response whose body is the error envelope (docs/api.md#errors).</summary>
    public static OpenApiResponse ErrorResponse(string description, OpenApiDocument? document) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            ["application/json"] = new() { Schema = new OpenApiSchemaReference(ErrorSchema, document) },
        },
    };

    // "POST v1/posts/{id}/cancel" -> "postPostsIdCancel": unique per method and route, stable across builds.
    private static string OperationId(ApiDescription api)
    {
        var id = new StringBuilder((api.HttpMethod ?? "op").ToLowerInvariant());
        foreach (string segment in (api.RelativePath ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == "v1")
            {
                continue;
            }

            foreach (string word in segment.Trim('{', '}', '*').Split('-', '_', ':'))
            {
                if (word.Length > 0)
                {
                    id.Append(char.ToUpperInvariant(word[0])).Append(word.AsSpan(1));
                }
            }
        }

        return id.ToString();
    }
}
